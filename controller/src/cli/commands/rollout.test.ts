import { describe, expect, it } from 'vitest';
import type { Rollout__Output, RolloutCommandRequest, StartRolloutRequest } from '@flotilla/proto';
import { ControllerError, UnavailableError } from '@flotilla/shared';
import { runCli } from '../program.js';
import { captureContext, fakeClient, testReport, testRollout, testRolloutHost } from '../testing.js';

const T = 1_700_000_000_000;

/** A two-step rollout of web@2.0 over h1 (canary) and h2, h3. */
function canaryRollout(over: Partial<Rollout__Output> = {}, hostStates: [string, string, string] = ['assigned', 'pending', 'pending']): Rollout__Output {
  const hosts = [
    testRolloutHost('h1', { state: hostStates[0], step: 0, last_report: testReport() }),
    testRolloutHost('h2', { state: hostStates[1], step: 1 }),
    testRolloutHost('h3', { state: hostStates[2], step: 1 }),
  ];
  const base = testRollout({ hosts, ...over });
  return {
    ...base,
    strategy: { ...(base.strategy as NonNullable<Rollout__Output['strategy']>), kind: 'batches', canary: '1', batch: '2', steps: [], auto_revert: true },
    steps: [
      { index: 0, host_ids: ['h1'], target_count: 1, started_at_ms: String(T), passed_at_ms: '0', bake_until_ms: '0' },
      { index: 1, host_ids: ['h2', 'h3'], target_count: 3, started_at_ms: '0', passed_at_ms: '0', bake_until_ms: '0' },
    ],
    ...over,
  };
}

function streamOf(...states: Rollout__Output[]): AsyncIterable<Rollout__Output> {
  return {
    async *[Symbol.asyncIterator]() {
      yield* states;
    },
  };
}

describe('flotilla rollout start', () => {
  it('--dry-run prints the plan and changes nothing', async () => {
    let sent: StartRolloutRequest | undefined;
    const c = captureContext({
      env: { USER: 'alice' },
      connect: () =>
        fakeClient({
          startRollout: async (req) => {
            sent = req;
            return { rollout: null, plan: 'rollout of web@2.0: 3 hosts (all hosts) in 2 steps' };
          },
        }),
    });
    expect(await runCli(['rollout', 'start', 'web@2.0', '--canary', '1', '--batch', '50%', '--bake', '30s', '--dry-run'], c.ctx)).toBe(0);
    expect(c.out()).toBe('rollout of web@2.0: 3 hosts (all hosts) in 2 steps\n(dry run: nothing was changed)\n');
    expect(sent).toMatchObject({ app: 'web', version: '2.0', canary: '1', batch: '50%', bake: '30s', dry_run: true, no_auto_revert: false, actor: 'alice' });
  });

  it('passes --traffic on to the controller', async () => {
    let sent: StartRolloutRequest | undefined;
    const c = captureContext({
      env: { USER: 'alice' },
      connect: () =>
        fakeClient({
          startRollout: async (req) => {
            sent = req;
            return { rollout: null, plan: 'plan' };
          },
        }),
    });
    expect(await runCli(['rollout', 'start', 'web@2.0', '--traffic', '5%,25%,50%,100%', '--dry-run'], c.ctx)).toBe(0);
    expect(sent).toMatchObject({ traffic: '5%,25%,50%,100%', dry_run: true });
  });

  it.each([
    [['--canary', '0'], /--canary: "0" must be more than zero/],
    [['--steps', '1,10%', '--batch', '2'], /--steps cannot be combined with --canary or --batch/],
    [['--bake', 'a while'], /--bake: "a while" is not a duration/],
    [['--min-healthy-time', '5m', '--healthy-deadline', '1m'], /--healthy-deadline .* must be longer than --min-healthy-time/],
    [['--max-failures', '120%'], /--max-failures: "120%" is more than 100%/],
    [['--traffic', '50%,10%'], /--traffic: traffic steps must grow, but 10% follows 50%/],
  ])('refuses %j before calling the controller (exit 2)', async (flags, message) => {
    const c = captureContext();
    expect(await runCli(['rollout', 'start', 'web@2.0', ...flags], c.ctx)).toBe(2);
    expect(c.err()).toMatch(message);
    expect(c.connections).toEqual([]);
  });

  it('starts, says how to follow it, and passes the strategy on as given', async () => {
    let sent: StartRolloutRequest | undefined;
    const c = captureContext({
      connect: () =>
        fakeClient({
          startRollout: async (req) => {
            sent = req;
            return { rollout: canaryRollout(), plan: 'the plan' };
          },
        }),
    });
    const argv = ['rollout', 'start', 'web@2.0', '--selector', 'env=prod', '--steps', '1,50%', '--pause-after-canary', '--no-auto-revert', '--max-restarts', '1'];
    expect(await runCli(argv, c.ctx)).toBe(0);
    expect(sent).toMatchObject({ selector: 'env=prod', steps: '1,50%', pause_after_canary: true, no_auto_revert: true, max_restarts: '1' });
    expect(c.out()).toBe(
      'started rollout web-1: web@2.0, reverts to 1.0 on failure (running, canary (step 1 of 2))\nthe plan\nfollow it with: flotilla rollout status web-1 --watch\n',
    );
  });

  it('--watch follows it and exits 0 when it succeeds, one line per change off a terminal', async () => {
    const running = canaryRollout({ log: [{ at_ms: String(T), kind: 'started', actor: 'operator:alice', message: 'rollout of web@2.0 started', details_json: '{}' }] });
    const next = canaryRollout(
      {
        current_step: 1,
        now_ms: String(T + 12_000),
        log: [
          ...running.log,
          { at_ms: String(T + 11_000), kind: 'step-started', actor: 'engine', message: 'step 2 of 2 started: 2 host(s)', details_json: '{}' },
        ],
      },
      ['passed', 'assigned', 'assigned'],
    );
    const done = canaryRollout(
      { status: 'succeeded', now_ms: String(T + 25_000), finished_at_ms: String(T + 25_000), end_reason: 'web@2.0 reached every host and is now stable', log: next.log },
      ['passed', 'passed', 'passed'],
    );
    const c = captureContext({
      connect: () => fakeClient({ startRollout: async () => ({ rollout: running, plan: 'the plan' }), watchRollout: () => streamOf(running, next, next, done) }),
    });
    expect(await runCli(['rollout', 'start', 'web@2.0', '--watch'], c.ctx)).toBe(0);
    expect(c.out().split('\n').slice(2)).toEqual([
      '+0ms     operator:alice   rollout of web@2.0 started',
      '+0ms     web-1 web@2.0 running, canary (step 1 of 2): 0/3 passed, 1 in progress, 2 pending',
      '+11.0s   engine           step 2 of 2 started: 2 host(s)',
      '+12.0s   web-1 web@2.0 running, step 2 of 2: 1/3 passed, 2 in progress',
      '+25.0s   web-1 web@2.0 succeeded: 3/3 passed',
      'rollout web-1 succeeded: web@2.0 reached every host and is now stable',
      '',
    ]);
  });
});

describe('flotilla rollout status', () => {
  const reverted = canaryRollout(
    {
      status: 'reverted',
      end_reason: '1 host(s) failed, more than the 0 tolerated: h1 (crash-looping: 4 restart(s))',
      ended_by: 'engine',
      finished_at_ms: String(T + 9_000),
      now_ms: String(T + 60_000),
      log: [
        { at_ms: String(T), kind: 'started', actor: 'operator:alice', message: 'rollout of web@2.0 started', details_json: '{}' },
        { at_ms: String(T + 8_000), kind: 'host-failed', actor: 'host:h1', message: 'h1 failed: crash-looping: 4 restart(s)', details_json: '{}' },
      ],
    },
    ['reverted', 'pending', 'pending'],
  );
  reverted.hosts[0] = { ...(reverted.hosts[0] as Rollout__Output['hosts'][number]), failure_reason: 'crash-looping: 4 restart(s)', last_report: testReport({ active_version: '1.0' }) };

  it('shows the steps, each host with the reason it failed, and the event log', async () => {
    const c = captureContext({ nowMs: T + 60_000, connect: () => fakeClient({ getRollout: async () => ({ rollout: reverted }) }) });
    expect(await runCli(['rollout', 'status', 'web-1'], c.ctx)).toBe(0);
    const out = c.out();
    expect(out).toMatch(/^rollout web-1: web@2\.0 reverted\n/);
    expect(out).toContain('ended: 1 host(s) failed, more than the 0 tolerated: h1 (crash-looping: 4 restart(s)) (engine)');
    expect(out).toMatch(/\ncanary\s+1\s+1\/3\s+0 passed, 1 reverted\s+started 1m ago\n/);
    expect(out).toMatch(/\nh1\s+canary\s+reverted\s+1\.0\s+running\s+healthy\s+crash-looping: 4 restart\(s\)\n/);
    expect(out).toMatch(/\nh2\s+step 2\s+pending\s+-\s+-\s+-\n/);
    expect(out).toContain('EVENTS\n  +0ms     operator:alice   rollout of web@2.0 started\n  +8.00s   host:h1          h1 failed: crash-looping: 4 restart(s)\n');
  });

  it('shows the share of requests the active version gets on a host that runs two slots', async () => {
    const shifting = canaryRollout({ id: 'web-2' });
    shifting.hosts[0] = { ...(shifting.hosts[0] as Rollout__Output['hosts'][number]), last_report: testReport({ traffic_weight: '10' }) };
    const c = captureContext({ nowMs: T + 60_000, connect: () => fakeClient({ getRollout: async () => ({ rollout: shifting }) }) });
    expect(await runCli(['rollout', 'status', 'web-2'], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/\nh1\s+canary\s+assigned\s+2\.0 @10%\s+running\s+healthy/);
  });

  it('--watch exits 1 when the rollout ends reverted, saying why', async () => {
    const c = captureContext({ connect: () => fakeClient({ watchRollout: () => streamOf(reverted) }) });
    expect(await runCli(['rollout', 'status', '--app', 'web', '--watch'], c.ctx)).toBe(1);
    expect(c.err()).toBe('error: rollout web-1 reverted: 1 host(s) failed, more than the 0 tolerated: h1 (crash-looping: 4 restart(s))\n');
  });

  it('--watch on a terminal redraws one block per batch in place', async () => {
    const a = canaryRollout();
    const b = canaryRollout({ status: 'succeeded', end_reason: 'done' }, ['passed', 'passed', 'passed']);
    const c = captureContext({ isTTY: true, env: { NO_COLOR: '1' }, connect: () => fakeClient({ watchRollout: () => streamOf(a, b) }) });
    expect(await runCli(['rollout', 'status', 'web-1', '--watch'], c.ctx)).toBe(0);
    const out = c.out();
    expect(out).toContain('  canary   [>>>>>>>>>>>>>>>>>>>>] 0/1 passed, 1 in progress  started just now\n');
    expect(out).toContain('  step 2   [....................] 0/2 passed  not started\n');
    // The second draw first moves the cursor back over the first one's three lines.
    expect(out).toContain('\u001b[3A\r\u001b[0J');
    expect(out).toContain('  step 2   [####################] 2/2 passed');
    expect(out.endsWith('rollout web-1 succeeded: done\n')).toBe(true);
  });

  it('--watch watches again when the controller goes away for a moment', async () => {
    let call = 0;
    const c = captureContext({
      connect: () =>
        fakeClient({
          watchRollout: () => ({
            async *[Symbol.asyncIterator]() {
              call++;
              if (call === 1) {
                yield canaryRollout();
                throw new UnavailableError('cannot reach the controller at fake:0: connect ECONNREFUSED');
              }
              yield canaryRollout({ status: 'succeeded', end_reason: 'done' }, ['passed', 'passed', 'passed']);
            },
          }),
        }),
    });
    expect(await runCli(['rollout', 'status', 'web-1', '--watch'], c.ctx)).toBe(0);
    expect(c.out()).toContain('warning: cannot reach the controller at fake:0: connect ECONNREFUSED; watching again\n');
    expect(call).toBe(2);
  });

  it('needs an id or --app, not both', async () => {
    const c = captureContext();
    expect(await runCli(['rollout', 'status'], c.ctx)).toBe(2);
    expect(await runCli(['rollout', 'status', 'web-1', '--app', 'web'], c.ctx)).toBe(2);
    expect(c.err()).toMatch(/give a rollout ID or --app, not both/);
  });
});

describe('flotilla rollout pause|resume|promote|abort', () => {
  it('sends the command with who asks, and prints where the rollout stands', async () => {
    const sent: RolloutCommandRequest[] = [];
    const c = captureContext({
      env: { USER: 'bob' },
      connect: () =>
        fakeClient({
          rolloutCommand: async (req) => {
            sent.push(req);
            return { rollout: canaryRollout({ status: 'paused', pause_reason: 'operator' }) };
          },
        }),
    });
    expect(await runCli(['rollout', 'pause', 'web-1'], c.ctx)).toBe(0);
    expect(c.out()).toBe('rollout web-1: paused, canary (step 1 of 2)\n');
    expect(await runCli(['rollout', 'abort', 'web-1', '--no-revert'], c.ctx)).toBe(0);
    expect(sent).toEqual([
      { id: 'web-1', command: 'pause', no_revert: false, actor: 'bob' },
      { id: 'web-1', command: 'abort', no_revert: true, actor: 'bob' },
    ]);
  });

  it("a command the rollout's state refuses exits 1 with the engine's reason", async () => {
    const c = captureContext({
      connect: () =>
        fakeClient({
          rolloutCommand: async () => {
            throw new ControllerError('FLOTILLA_ERR_CONFLICT', 'rollout web-1 is not paused (it is running): nothing to promote', 'FAILED_PRECONDITION');
          },
        }),
    });
    expect(await runCli(['rollout', 'promote', 'web-1'], c.ctx)).toBe(1);
    expect(c.err()).toBe('error: rollout web-1 is not paused (it is running): nothing to promote\n');
  });
});

describe('flotilla rollout list and history', () => {
  const summary = {
    id: 'web-2',
    app: 'web',
    version: '3.0',
    status: 'reverted',
    stable_version: '2.0',
    selector: '',
    hosts: 3,
    failed: 1,
    passed: 0,
    steps: 2,
    current_step: 0,
    created_by: 'alice',
    created_at_ms: String(T - 120_000),
    finished_at_ms: String(T - 100_000),
    end_reason: 'alarm from alertmanager: HighErrorRate',
    ended_by: 'alarm:alertmanager',
  };

  it('lists rollouts with how each ended', async () => {
    const c = captureContext({ nowMs: T, env: { NO_COLOR: '1' }, connect: () => fakeClient({ listRollouts: async () => ({ rollouts: [summary] }) }) });
    expect(await runCli(['rollout', 'list', '--app', 'web'], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/^ID\s+VERSION\s+STATUS\s+HOSTS\s+FROM\s+STARTED\s+BY\s+REASON\n/);
    expect(c.out()).toMatch(/\nweb-2\s+web@3\.0\s+reverted\s+0\/3, 1 failed\s+2\.0\s+2m ago\s+alice\s+alarm from alertmanager: HighErrorRate\n/);
  });

  it("shows an app's versions, which were stable and when, and its rollouts", async () => {
    const c = captureContext({
      nowMs: T,
      connect: () =>
        fakeClient({
          getHistory: async () => ({
            app: 'web',
            stable_version: '2.0',
            stable_since_ms: String(T - 300_000),
            versions: [
              { version: '1.0', uploaded_at_ms: String(T - 900_000), stable: false, stable_periods: [{ since_ms: String(T - 800_000), until_ms: String(T - 300_000), rollout_id: 'web-1' }] },
              { version: '2.0', uploaded_at_ms: String(T - 600_000), stable: true, stable_periods: [{ since_ms: String(T - 300_000), until_ms: '0', rollout_id: 'web-3' }] },
              { version: '3.0', uploaded_at_ms: String(T - 200_000), stable: false, stable_periods: [] },
            ],
            rollouts: [summary],
          }),
        }),
    });
    expect(await runCli(['history', 'web'], c.ctx)).toBe(0);
    const out = c.out();
    expect(out).toMatch(/^web: stable 2\.0 since 5m ago\n/);
    expect(out).toMatch(/\n1\.0\s+15m ago\s+was stable for 8m20s, until 5m ago via web-1\s+-\n/);
    expect(out).toMatch(/\n2\.0\s+10m ago\s+stable since 5m ago via web-3\s+-\n/);
    expect(out).toMatch(/\n3\.0\s+3m ago\s+-\s+-\n/);
    expect(out).toMatch(/\nweb-2\s+3\.0\s+2\.0\s+reverted\s+2m ago\s+20\.0s\s+alice\s+alarm from alertmanager: HighErrorRate\n/);
  });
});
