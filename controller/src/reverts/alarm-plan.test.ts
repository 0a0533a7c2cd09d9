import { describe, expect, it } from 'vitest';
import { planAlarm, type AlarmSituation, type FinishedRolloutFacts, type RevertFacts } from './alarm-plan.js';

const T = 1_700_000_000_000;
const MIN = 60_000;

/** web-4 rolled 2.0.0 out over the stable 1.0.0 and succeeded five minutes ago; window 10m. */
const succeeded: FinishedRolloutFacts = {
  id: 'web-4',
  version: '2.0.0',
  status: 'succeeded',
  stableVersion: '1.0.0',
  createdAtMs: T - 8 * MIN,
  finishedAtMs: T - 5 * MIN,
  watchWindowMs: 10 * MIN,
  autoRevert: true,
};

function situation(over: Partial<AlarmSituation> = {}): AlarmSituation {
  return {
    nowMs: T,
    app: 'web',
    stableVersion: '2.0.0',
    previousStableVersion: '1.0.0',
    lastRollout: succeeded,
    lastRevert: null,
    revertOutsideWatchWindow: false,
    holdMs: 10 * MIN,
    ...over,
  };
}

function revert(over: Partial<RevertFacts> = {}): RevertFacts {
  return { id: 'web-r1', episode: 'rollout:web-4', toVersion: '1.0.0', startedAtMs: T - MIN, holdUntilMs: T + 5 * MIN, status: 'done', ...over };
}

describe('an alarm when no rollout is active', () => {
  it('inside the watch window of a rollout that succeeded: back to the PREVIOUS stable version, its version marked bad', () => {
    expect(planAlarm(situation())).toEqual({
      kind: 'revert',
      episode: 'rollout:web-4',
      fromVersion: '2.0.0',
      toVersion: '1.0.0',
      rolloutId: 'web-4',
      holdUntilMs: T + 5 * MIN,
      why: 'inside the watch window of rollout web-4 (web@2.0.0 succeeded 5m00s ago, window 10m00s)',
    });
  });

  it('inside the window of a rollout that was reverted or aborted: hosts it left go back to its stable version', () => {
    const aborted = { ...succeeded, status: 'aborted' as const };
    expect(planAlarm(situation({ stableVersion: '1.0.0', previousStableVersion: null, lastRollout: aborted }))).toMatchObject({
      kind: 'revert',
      fromVersion: '2.0.0',
      toVersion: '1.0.0',
    });
  });

  it('changes nothing more once a revert answered the same rollout, or while a later revert holds', () => {
    expect(planAlarm(situation({ lastRevert: revert() }))).toEqual({
      kind: 'already',
      revertId: 'web-r1',
      toVersion: '1.0.0',
      message: 'web was reverted 1m00s ago to 1.0.0 (web-r1); it answered an alarm about rollout web-4 already',
    });
    // An operator's rollback after the rollout, within its hold: the storm's tail changes nothing.
    const rollback = revert({ id: 'web-r2', episode: 'rollback:web-r2', status: 'reverting' });
    expect(planAlarm(situation({ lastRevert: rollback }))).toMatchObject({ kind: 'already', revertId: 'web-r2', message: /^web is reverting to 1\.0\.0/ });
  });

  it('a revert from before the rollout started does not cover it', () => {
    const older = revert({ id: 'web-r1', episode: 'stable:0.9.0', startedAtMs: T - 9 * MIN, holdUntilMs: T + MIN });
    expect(planAlarm(situation({ lastRevert: older }))).toMatchObject({ kind: 'revert', episode: 'rollout:web-4' });
  });

  it('a rollout started after a revert ends its hold: outside its window the rules apply again', () => {
    const held = revert({ startedAtMs: T - 9 * MIN, holdUntilMs: T + MIN });
    const later = { ...succeeded, id: 'web-5', createdAtMs: T - 4 * MIN, finishedAtMs: T - 3 * MIN, watchWindowMs: 1000 };
    expect(planAlarm(situation({ lastRevert: held, lastRollout: later }))).toMatchObject({ kind: 'record', message: /^outside the watch window of rollout web-5/ });
    expect(planAlarm(situation({ lastRevert: held, lastRollout: { ...later, createdAtMs: T - 10 * MIN } }))).toMatchObject({ kind: 'already' });
  });

  it('records only for a rollout without auto-revert, or an app with nothing to go back to', () => {
    expect(planAlarm(situation({ lastRollout: { ...succeeded, autoRevert: false } }))).toMatchObject({
      kind: 'record',
      rolloutId: 'web-4',
      message: /runs without auto-revert: nothing reverted \(flotilla rollback web goes back\)/,
    });
    expect(planAlarm(situation({ lastRollout: { ...succeeded, stableVersion: null } }))).toMatchObject({
      kind: 'record',
      message: "rollout web-4 was web's first release: there is no earlier stable version to go back to",
    });
  });

  it('outside the window: recorded only, unless the policy reverts to the previous stable version', () => {
    const late = situation({ nowMs: T + 6 * MIN });
    expect(planAlarm(late)).toEqual({
      kind: 'record',
      rolloutId: null,
      message:
        'outside the watch window of rollout web-4 (it ended 11m00s ago, window 10m00s): recorded only (policy alarms.apps.web.revertOutsideWatchWindow is off)',
    });
    expect(planAlarm({ ...late, revertOutsideWatchWindow: true })).toMatchObject({
      kind: 'revert',
      episode: 'stable:2.0.0',
      fromVersion: '2.0.0',
      toVersion: '1.0.0',
      rolloutId: null,
      holdUntilMs: T + 16 * MIN,
    });
    expect(planAlarm({ ...late, revertOutsideWatchWindow: true, previousStableVersion: null })).toMatchObject({
      kind: 'record',
      message: /web has no previous stable version to go back to$/,
    });
    expect(planAlarm(situation({ lastRollout: null }))).toMatchObject({ kind: 'record', message: /^web has had no rollout yet: recorded only/ });
  });

  it('by policy, a storm is one revert: after it the next alarm does not walk back another version', () => {
    const late = T + 6 * MIN;
    const first = planAlarm(situation({ nowMs: late, revertOutsideWatchWindow: true }));
    expect(first).toMatchObject({ kind: 'revert', toVersion: '1.0.0' });
    // What the app looks like after that revert: 1.0.0 stable, 0.9.0 before it.
    const after = situation({
      nowMs: late + 30_000,
      stableVersion: '1.0.0',
      previousStableVersion: '0.9.0',
      revertOutsideWatchWindow: true,
      lastRevert: revert({ id: 'web-r2', episode: 'stable:2.0.0', startedAtMs: late, holdUntilMs: late + 10 * MIN }),
    });
    expect(planAlarm(after)).toMatchObject({ kind: 'already', revertId: 'web-r2', toVersion: '1.0.0' });
    // Once the hold is over, an alarm is news about 1.0.0, and the policy acts on it.
    expect(planAlarm({ ...after, nowMs: late + 11 * MIN })).toMatchObject({ kind: 'revert', fromVersion: '1.0.0', toVersion: '0.9.0' });
  });
});
