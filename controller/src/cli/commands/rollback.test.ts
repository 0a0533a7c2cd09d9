import { describe, expect, it } from 'vitest';
import type { AppEvent__Output, RollbackRequest, RollbackResponse__Output } from '@flotilla/proto';
import { ControllerError } from '@flotilla/shared';
import { runCli } from '../program.js';
import { captureContext, fakeClient, testRollout } from '../testing.js';

const T = 1_700_000_000_000;

function event(over: Partial<AppEvent__Output> = {}): AppEvent__Output {
  return {
    id: 'web-e1',
    app: 'web',
    kind: 'alarm',
    at_ms: String(T - 120_000),
    source: 'alertmanager',
    reason: 'HighErrorRate: web answers 7% of requests with 5xx',
    severity: 'critical',
    summary_json: '{"firing":2}',
    action: 'reverted',
    rollout_id: 'web-4',
    revert_id: 'web-r1',
    from_version: '2.0',
    to_version: '1.0',
    hosts: 3,
    message: 'reverted 3 host(s) to 1.0',
    actor: '',
    ...over,
  };
}

const answer: RollbackResponse__Output = {
  revert: {
    id: 'web-r2',
    app: 'web',
    cause: 'rollback',
    from_version: '2.0',
    to_version: '1.0',
    rollout_id: '',
    host_ids: ['h1', 'h2'],
    started_at_ms: String(T),
    finished_at_ms: String(T),
    status: 'done',
    actor: 'operator:carol',
    reason: 'rollback by carol',
    bad_version: '2.0',
  },
  assigned: [
    { host_id: 'h1', seq: '7' },
    { host_id: 'h2', seq: '4' },
  ],
  event: event({ id: 'web-e2', kind: 'rollback', action: 'rolled-back', source: 'operator', actor: 'operator:carol' }),
  aborted_rollout_id: '',
  message: '2 host(s) of web sent to 1.0; 2.0 marked bad',
};

const status = async () => ({
  hosts: [],
  apps: [{ name: 'web', stable_version: '2.0', stable_since_ms: String(T), versions: ['1.0', '2.0'], previous_stable_version: '1.0', bad_versions: [] }],
});

describe('flotilla rollback', () => {
  it('without a terminal needs --yes, and says so before talking to the controller', async () => {
    const c = captureContext({ stdinIsTTY: false });
    expect(await runCli(['rollback', 'web'], c.ctx)).toBe(2);
    expect(c.err()).toBe(
      'error: flotilla rollback changes every host of web at once and there is no terminal to confirm on: pass --yes to go ahead\n',
    );
    expect(c.connections).toEqual([]);
  });

  it('asks on a terminal; anything but yes changes nothing', async () => {
    const c = captureContext({ stdinIsTTY: true, answers: ['n'], connect: () => fakeClient({ getStatus: status }) });
    expect(await runCli(['rollback', 'web'], c.ctx)).toBe(1);
    expect(c.questions).toEqual([
      'Roll every host of web (stable 2.0, previous stable 1.0) back to its last stable version now, aborting any rollout of it? [y/N] ',
    ]);
    expect(c.err()).toBe('rollback cancelled: nothing changed\n');
  });

  it('rolls back once confirmed, naming every host and its new assignment', async () => {
    let sent: RollbackRequest | undefined;
    const c = captureContext({
      stdinIsTTY: true,
      answers: ['yes'],
      env: { USER: 'carol' },
      connect: () =>
        fakeClient({
          getStatus: status,
          rollback: async (req) => {
            sent = req;
            return answer;
          },
        }),
    });
    expect(await runCli(['rollback', 'web'], c.ctx)).toBe(0);
    expect(sent).toEqual({ app: 'web', to_version: '', actor: 'carol', force: false });
    expect(c.out()).toMatch(
      /\? \[y\/N\] rolled web back to 1\.0: 2 hosts reassigned at once: h1 \(seq 7\), h2 \(seq 4\)\nweb@2\.0 is marked bad \(rolling it out again needs --force\)\nweb@1\.0 is the stable version \(revert web-r2; see flotilla events --app web\)\n$/,
    );
  });

  it('--yes --to VERSION goes straight ahead; an unknown version is the controller refusal, exit 1', async () => {
    let sent: RollbackRequest | undefined;
    const c = captureContext({
      connect: () =>
        fakeClient({
          rollback: async (req) => {
            sent = req;
            throw new ControllerError('FLOTILLA_ERR_NOT_FOUND', 'app "web" has no artifact for version "9.9" (known versions: 1.0, 2.0)', 'NOT_FOUND');
          },
        }),
    });
    expect(await runCli(['rollback', 'web', '--to', '9.9', '--yes', '--force'], c.ctx)).toBe(1);
    expect(sent).toMatchObject({ to_version: '9.9', force: true });
    expect(c.err()).toBe('error: app "web" has no artifact for version "9.9" (known versions: 1.0, 2.0)\n');
  });

  it('refuses a malformed version or app before sending anything', async () => {
    const c = captureContext();
    expect(await runCli(['rollback', 'web', '--to', 'not a version', '--yes'], c.ctx)).toBe(2);
    expect(await runCli(['rollback', 'Web!', '--yes'], c.ctx)).toBe(2);
    expect(c.connections).toEqual([]);
  });

  it('--json prints the controller answer', async () => {
    const c = captureContext({ connect: () => fakeClient({ rollback: async () => answer }) });
    expect(await runCli(['rollback', 'web', '--yes', '--json'], c.ctx)).toBe(0);
    expect(JSON.parse(c.out())).toMatchObject({ revert: { id: 'web-r2', to_version: '1.0' }, assigned: [{ host_id: 'h1', seq: '7' }, { host_id: 'h2', seq: '4' }] });
  });
});

describe('flotilla events', () => {
  it('lists alarms and rollbacks newest first, with what each did', async () => {
    let asked: unknown;
    const c = captureContext({
      nowMs: T,
      env: { NO_COLOR: '1' },
      connect: () =>
        fakeClient({
          listEvents: async (req) => {
            asked = req;
            return { events: [event({ id: 'web-e2', action: 'already-reverting', source: 'builtin:health', reason: 'health failing on 3 of 3 hosts', message: '', hosts: 0, at_ms: String(T - 60_000) }), event()] };
          },
        }),
    });
    expect(await runCli(['events'], c.ctx)).toBe(0);
    expect(asked).toEqual({ app: '', limit: 50 });
    const lines = c.out().split('\n');
    expect(lines[0]).toMatch(/^WHEN\s+APP\s+EVENT\s+SOURCE\s+ACTION\s+VERSIONS\s+HOSTS\s+ROLLOUT\s+REASON$/);
    expect(lines[1]).toMatch(/^1m ago\s+web\s+alarm\s+builtin:health\s+already-reverting\s+2\.0 -> 1\.0\s+0\s+web-4\s+health failing on 3 of 3 hosts$/);
    expect(lines[2]).toMatch(/^2m ago\s+web\s+alarm\s+alertmanager\s+reverted\s+2\.0 -> 1\.0\s+3\s+web-4\s+HighErrorRate: web answers 7% of requests with 5xx$/);
  });

  it('says why an alarm was only recorded', async () => {
    const recorded = event({ action: 'recorded', rollout_id: '', from_version: '', to_version: '', hosts: 0, message: 'outside the watch window of rollout web-4' });
    const c = captureContext({ nowMs: T, env: { NO_COLOR: '1' }, connect: () => fakeClient({ listEvents: async () => ({ events: [recorded] }) }) });
    expect(await runCli(['events', '--app', 'web'], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/\n2m ago\s+alarm\s+alertmanager\s+recorded\s+-\s+0\s+-\s+HighErrorRate: .* \(outside the watch window of rollout web-4\)\n$/);
  });

  it('--app and --json; a bad --limit is a usage error', async () => {
    const c = captureContext({ connect: () => fakeClient({ listEvents: async () => ({ events: [event()] }) }) });
    expect(await runCli(['events', '--app', 'web', '--json', '--limit', '5'], c.ctx)).toBe(0);
    expect(JSON.parse(c.out())).toMatchObject({ events: [{ id: 'web-e1', action: 'reverted' }] });
    expect(await runCli(['events', '--limit', 'lots'], c.ctx)).toBe(2);
  });
});

describe('flotilla rollout status with alarms', () => {
  it('lists the alarms that concerned the rollout', async () => {
    const c = captureContext({
      nowMs: T,
      env: { NO_COLOR: '1' },
      connect: () => fakeClient({ getRollout: async () => ({ rollout: testRollout({ id: 'web-4', status: 'succeeded', events: [event()] }) }) }),
    });
    expect(await runCli(['rollout', 'status', 'web-4'], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/\nALARMS, ROLLBACKS AND FAILED STEPS \(while it ran or inside its watch window\)\nWHEN\s+EVENT\s+SOURCE.*\n2m ago\s+alarm\s+alertmanager\s+reverted\s+2\.0 -> 1\.0\s+3\s+web-4\s+HighErrorRate/);
  });
});

describe('flotilla rollout start --watch-window and --force', () => {
  it('sends them; a bad window is a usage error', async () => {
    let sent: unknown;
    const c = captureContext({
      connect: () =>
        fakeClient({
          startRollout: async (req) => {
            sent = req;
            return { rollout: testRollout(), plan: 'plan' };
          },
        }),
    });
    expect(await runCli(['rollout', 'start', 'web@2.0', '--watch-window', '30s', '--force'], c.ctx)).toBe(0);
    expect(sent).toMatchObject({ app: 'web', version: '2.0', watch_window: '30s', force: true });
    expect(await runCli(['rollout', 'start', 'web@2.0', '--watch-window', 'soon'], c.ctx)).toBe(2);
    expect(c.err()).toMatch(/--watch-window/);
  });
});
