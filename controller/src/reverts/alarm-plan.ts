import { formatDuration } from '@flotilla/shared';
import type { RolloutStatus } from '../engine/index.js';

/*
 * What an alarm does when no rollout of its app is active: a pure function of what the app's
 * records say, so that the rules read in one place and are tested without KV or clocks. (An
 * alarm for an active rollout goes to the rollout engine instead, which stops and reverts it.)
 */

/** The app's latest rollout, finished. */
export interface FinishedRolloutFacts {
  readonly id: string;
  readonly version: string;
  readonly status: RolloutStatus;
  /** The app's stable version when the rollout started: what it reverts to. */
  readonly stableVersion: string | null;
  readonly createdAtMs: number;
  readonly finishedAtMs: number;
  readonly watchWindowMs: number;
  readonly autoRevert: boolean;
}

/** The app's latest revert outside the engine. */
export interface RevertFacts {
  readonly id: string;
  readonly episode: string;
  readonly toVersion: string;
  readonly startedAtMs: number;
  readonly holdUntilMs: number;
  readonly status: 'reverting' | 'done';
}

export interface AlarmSituation {
  readonly nowMs: number;
  readonly app: string;
  readonly stableVersion: string | null;
  readonly previousStableVersion: string | null;
  /** Null when the app has had no rollout (or deploy) yet. */
  readonly lastRollout: FinishedRolloutFacts | null;
  readonly lastRevert: RevertFacts | null;
  /** The app's policy `revertOutsideWatchWindow`. */
  readonly revertOutsideWatchWindow: boolean;
  /** How long alarms change nothing more after a revert no rollout's window bounds. */
  readonly holdMs: number;
}

export type AlarmPlan =
  /** Store the alarm; change nothing. */
  | { readonly kind: 'record'; readonly message: string; readonly rolloutId: string | null }
  /** A revert already answers this alarm (finish it if it is still under way). */
  | { readonly kind: 'already'; readonly revertId: string; readonly toVersion: string; readonly message: string }
  /** Revert every host of the app not on `toVersion` to it, and mark `fromVersion` bad (alarms always do). */
  | {
      readonly kind: 'revert';
      readonly episode: string;
      readonly fromVersion: string | null;
      readonly toVersion: string;
      readonly rolloutId: string | null;
      readonly holdUntilMs: number;
      /** Why, for the revert record and the event. */
      readonly why: string;
    };

export const rolloutEpisode = (rolloutId: string): string => `rollout:${rolloutId}`;
export const stableEpisode = (version: string): string => `stable:${version}`;
export const rollbackEpisode = (revertId: string): string => `rollback:${revertId}`;
export const failedStepEpisode = (rolloutId: string): string => `failed-step:${rolloutId}`;

/**
 * The rules:
 * 1. Inside the watch window of the app's latest rollout (counted from its end): go back to the
 *    version that was stable when it started (for a rollout that succeeded, the PREVIOUS stable
 *    version, since its own version has become the stable one), and mark its version bad. Not
 *    for a rollout without auto-revert, nor when it had no stable version to start from.
 * 2. Outside any window: record only; or, with the app's `revertOutsideWatchWindow`, go back from
 *    the current stable version to the previous stable one, marking the current one bad.
 * 3. Either way, once a revert answered something, alarms about the same thing (the same rollout,
 *    or the same stable version) change nothing more; nor does any alarm until the revert's hold
 *    ends, unless a rollout started after that revert. A storm of alerts is thus one revert, never
 *    a walk back through every earlier version.
 */
export function planAlarm(s: AlarmSituation): AlarmPlan {
  const last = s.lastRollout;
  const revert = s.lastRevert;
  const ago = (atMs: number) => formatDuration(Math.max(0, s.nowMs - atMs));
  const already = (why: string): AlarmPlan => {
    const r = revert as RevertFacts;
    const state = r.status === 'reverting' ? 'is reverting' : `was reverted ${ago(r.startedAtMs)} ago`;
    return { kind: 'already', revertId: r.id, toVersion: r.toVersion, message: `${s.app} ${state} to ${r.toVersion} (${r.id}); ${why}` };
  };

  const windowEndsMs = last ? last.finishedAtMs + last.watchWindowMs : 0;
  if (last && s.nowMs < windowEndsMs) {
    const episode = rolloutEpisode(last.id);
    if (revert && revert.episode === episode) return already(`it answered an alarm about rollout ${last.id} already`);
    if (revert && s.nowMs < revert.holdUntilMs && revert.startedAtMs >= last.createdAtMs) {
      return already(`alarms until ${formatDuration(revert.holdUntilMs - s.nowMs)} from now change nothing more`);
    }
    if (!last.autoRevert) {
      return {
        kind: 'record',
        rolloutId: last.id,
        message: `rollout ${last.id} (${s.app}@${last.version}) runs without auto-revert: nothing reverted (flotilla rollback ${s.app} goes back)`,
      };
    }
    if (last.stableVersion === null) {
      return {
        kind: 'record',
        rolloutId: last.id,
        message: `rollout ${last.id} was ${s.app}'s first release: there is no earlier stable version to go back to`,
      };
    }
    const ended = last.status === 'succeeded' ? 'succeeded' : `ended ${last.status}`;
    return {
      kind: 'revert',
      episode,
      fromVersion: last.version === last.stableVersion ? null : last.version,
      toVersion: last.stableVersion,
      rolloutId: last.id,
      holdUntilMs: windowEndsMs,
      why: `inside the watch window of rollout ${last.id} (${s.app}@${last.version} ${ended} ${ago(last.finishedAtMs)} ago, window ${formatDuration(last.watchWindowMs)})`,
    };
  }

  // A rollout started since the revert means the storm it answered is over.
  if (revert && s.nowMs < revert.holdUntilMs && !(last && last.createdAtMs > revert.startedAtMs)) {
    return already(`alarms until ${formatDuration(revert.holdUntilMs - s.nowMs)} from now change nothing more`);
  }
  const where = last
    ? `outside the watch window of rollout ${last.id} (it ended ${ago(last.finishedAtMs)} ago, window ${formatDuration(last.watchWindowMs)})`
    : `${s.app} has had no rollout yet`;
  if (!s.revertOutsideWatchWindow) {
    return { kind: 'record', rolloutId: null, message: `${where}: recorded only (policy alarms.apps.${s.app}.revertOutsideWatchWindow is off)` };
  }
  if (s.stableVersion === null || s.previousStableVersion === null || s.previousStableVersion === s.stableVersion) {
    return { kind: 'record', rolloutId: null, message: `${where}: ${s.app} has no previous stable version to go back to` };
  }
  const episode = stableEpisode(s.stableVersion);
  if (revert && revert.episode === episode) return already(`it answered an alarm about ${s.app}@${s.stableVersion} already`);
  return {
    kind: 'revert',
    episode,
    fromVersion: s.stableVersion,
    toVersion: s.previousStableVersion,
    rolloutId: null,
    holdUntilMs: s.nowMs + s.holdMs,
    why: `${where}; the app's policy reverts to the previous stable version`,
  };
}
