import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetHistoryResponse__Output, GetStatusResponse__Output, Rollout__Output } from '@flotilla/proto';
import { fireAlertmanager } from './alerts.js';
import { FakeHost, httpGetText } from './controller-process.js';
import { deadlineFlag, waitUntil } from './deadline.js';
import { Fleet, type CliResult } from './fleet.js';

// Built-in alarms, the per-app policy outside the watch window, and `flotilla rollback`, against a
// real fleet (nats-server, controller, three agents running the demo app). The controller is
// configured as an operator would: health alarms after 1s of failing (10s by default), and the
// demo app reverting on alarms outside its watch window too. Every wait is on a condition.

const TOKEN = 'e2e-builtin-token-0123456789abcdef';
const CONFIG = ['alarms:', '  defaults:', '    health: { for: 1s }', '  apps:', '    demo:', '      revertOutsideWatchWindow: true', ''].join('\n');
/** Every host in one step; each passes after 1s healthy. */
const ONE_STEP = ['--steps', '100%', '--min-healthy-time', '1s', '--healthy-deadline', deadlineFlag(30)];

let fleet: Fleet;

const cli = (args: string[], expected = 0): Promise<CliResult> => fleet.run(args, expected);
const json = <T>(args: string[]): Promise<T> => fleet.json<T>(args);
const seqs = () => fleet.seqs();
const events = () => fleet.events();
const fleetOn = (version: string, timeoutMs?: number) => fleet.waitForFleetOn(version, timeoutMs);

/** Rolls `version` out to every host and waits for its success. */
async function rollOut(version: string, ...flags: string[]): Promise<Rollout__Output> {
  const { rollout } = await json<{ rollout: Rollout__Output }>(['rollout', 'start', `demo@${version}`, ...ONE_STEP, ...flags]);
  return fleet.waitForRollout(rollout.id, 'succeeded', (r) => r.status === 'succeeded' || r.status === 'reverted' || r.status === 'failed');
}

beforeAll(async () => {
  fleet = await Fleet.startDeployed({
    agents: 3,
    heartbeatInterval: '500ms',
    controllerEnv: { FLOTILLA_ALERTS_TOKEN: TOKEN },
    controllerConfig: CONFIG,
    stable: '1.0.0',
  });
});

afterAll(async () => {
  await fleet?.stop();
});

describe('built-in alarms, policy and rollback against a real fleet', () => {
  it('a version whose health starts failing after a while is reverted by the built-in health alarm', async () => {
    // Healthy long enough to pass the rollout, then /healthz fails on every host.
    await fleet.push('2.0.0', 'unhealthy-after', { DEMO_HEALTHY_FOR: '8' });
    const rollout = await rollOut('2.0.0');
    expect(rollout.status, JSON.stringify(rollout.log)).toBe('succeeded');
    const before = await seqs();
    await waitUntil('the built-in health alarm', async () => (await events()).some((e) => e.source === 'builtin:health'), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    await fleetOn('1.0.0');
    const [event] = (await events()).filter((e) => e.source === 'builtin:health');
    expect(event).toMatchObject({ kind: 'alarm', action: 'reverted', rollout_id: rollout.id, from_version: '2.0.0', to_version: '1.0.0', hosts: 3 });
    expect(event!.reason).toMatch(/^health failing on [23] of 3 hosts running demo \(\d+(\.\d)?% > 50%\) for 1\.00s$/);
    const after = await seqs();
    for (const [host, seq] of before) expect(after.get(host), host).toBe(seq + 1);
    const history = await json<GetHistoryResponse__Output>(['history', 'demo']);
    expect(history.stable_version).toBe('1.0.0');
    expect(history.versions.find((v) => v.version === '2.0.0')).toMatchObject({ bad: true, bad_by: 'alarm:builtin:health' });
    // The rollout's own view lists the alarm that undid it.
    const status = await cli(['rollout', 'status', rollout.id]);
    expect(status.stdout).toMatch(/\nALARMS, ROLLBACKS AND FAILED STEPS \(while it ran or inside its watch window\)\n/);
    expect(status.stdout).toMatch(/alarm\s+builtin:health\s+reverted\s+2\.0\.0 -> 1\.0\.0\s+3/);
  });

  it("outside the watch window, the app's policy reverts to the previous stable version", async () => {
    await fleet.push('3.0.0');
    const done = await rollOut('3.0.0', '--watch-window', '1s');
    await fleetOn('3.0.0');
    await waitUntil('the watch window to pass', () => Date.now() > Number(done.finished_at_ms) + 1500, { timeoutMs: 10_000, intervalMs: 100 });
    const reply = await fireAlertmanager(fleet.controller.http, TOKEN, 'demo');
    expect(reply.body.apps).toEqual([
      expect.objectContaining({ action: 'reverted', toVersion: '1.0.0', message: expect.stringMatching(/policy reverts to the previous stable version/) }),
    ]);
    await fleetOn('1.0.0');
    // The rest of the storm changes nothing more.
    const again = await fireAlertmanager(fleet.controller.http, TOKEN, 'demo');
    expect(again.body.apps?.[0]?.action).toBe('already-reverting');
  });

  it('flotilla rollback goes back at once, refuses an unknown version, and a bad version needs --force', async () => {
    await fleet.push('4.0.0');
    await rollOut('4.0.0');
    await fleetOn('4.0.0');

    const noTty = await cli(['rollback', 'demo'], 2);
    expect(noTty.stderr).toMatch(/pass --yes to go ahead\n$/);
    const unknown = await cli(['rollback', 'demo', '--to', '9.9.9', '--yes'], 1);
    expect(unknown.stderr).toBe('error: app "demo" has no artifact for version "9.9.9" (known versions: 1.0.0, 2.0.0, 3.0.0, 4.0.0)\n');

    const before = await seqs();
    const back = await cli(['rollback', 'demo', '--yes']);
    expect(back.stdout).toMatch(/^rolled demo back to 1\.0\.0: 3 hosts reassigned at once: host-1 \(seq \d+\), host-2 \(seq \d+\), host-3 \(seq \d+\)\n/);
    expect(back.stdout).toMatch(/\ndemo@4\.0\.0 is marked bad \(rolling it out again needs --force\)\n/);
    await fleetOn('1.0.0');
    const after = await seqs();
    for (const [host, seq] of before) expect(after.get(host), host).toBe(seq + 1);
    expect((await events())[0]).toMatchObject({ kind: 'rollback', action: 'rolled-back', actor: expect.stringMatching(/^operator:/), to_version: '1.0.0', hosts: 3 });

    // Bad versions: refused by deploy, rollout start and rollback alike, unless --force.
    expect((await cli(['deploy', 'demo@3.0.0'], 1)).stderr).toMatch(/^error: demo@3\.0\.0 is marked bad \(alarm:alertmanager, /);
    expect((await cli(['rollout', 'start', 'demo@4.0.0', ...ONE_STEP], 1)).stderr).toMatch(/demo@4\.0\.0 is marked bad \(operator:/);
    expect((await cli(['rollback', 'demo', '--to', '4.0.0', '--yes'], 1)).stderr).toMatch(/demo@4\.0\.0 is marked bad .*pass --force/);
    await cli(['rollback', 'demo', '--to', '4.0.0', '--yes', '--force']);
    await fleetOn('4.0.0');
    const status = await json<GetStatusResponse__Output>(['status', 'demo']);
    expect(status.apps[0]).toMatchObject({ stable_version: '4.0.0' });
    expect(status.apps[0]!.bad_versions).not.toContain('4.0.0');
    await cli(['deploy', 'demo@3.0.0', '--force', '--wait-timeout', deadlineFlag(60)]);
    await fleetOn('3.0.0');
    expect((await json<GetStatusResponse__Output>(['status', 'demo'])).apps[0]!.bad_versions).toEqual(['2.0.0']);
  });

  it("one host forging a crash loop for an app it does not run neither reverts the fleet nor marks the version bad", async () => {
    const before = await seqs();
    const eventsBefore = (await events()).length;
    const stableBefore = (await json<GetHistoryResponse__Output>(['history', 'demo'])).stable_version;
    const intruder = await FakeHost.connect(fleet.nats.url, 'intruder-1', { heartbeatIntervalMs: 500 });
    try {
      intruder.announce();
      const forged = (app: string) => ({
        app,
        desiredVersion: '1.0.0',
        activeVersion: '1.0.0',
        processState: 'crash-loop' as const,
        pid: 4242,
        restarts: 50,
        health: 'unhealthy' as const,
        healthSinceMs: Date.now(),
        installPhase: 'idle' as const,
        installVersion: null,
        error: null,
        updatedAtMs: Date.now(),
      });
      intruder.apps = [forged('demo'), forged('payroll')];
      intruder.startHeartbeats();
      // The controller's own count of reports it ignored is the event to wait on: once both
      // forged apps were seen several times, an alarm would have fired at once (crash loops fire
      // without a duration).
      await waitUntil(
        'the controller to ignore the forged reports',
        async () => {
          const m = /flotilla_builtin_alarm_ignored_reports_total\{reason="not-assigned"\} (\d+)/.exec((await httpGetText(fleet.controller.http, '/metrics')).body);
          return m !== null && Number(m[1]) >= 6;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    } finally {
      await intruder.close();
    }
    // Newest first: nothing was added, and no crash-loop alarm was ever raised in this fleet.
    const after = await events();
    expect(after.length).toBe(eventsBefore);
    expect(after.filter((e) => e.source === 'builtin:crash-loop')).toEqual([]);
    // The fleet's hosts got no new assignment (the intruder shows up as a host, with none).
    const seqsAfter = await seqs();
    for (const [host, seq] of before) expect(seqsAfter.get(host), host).toBe(seq);
    const history = await json<GetHistoryResponse__Output>(['history', 'demo']);
    expect(history.stable_version).toBe(stableBefore);
    expect(history.versions.find((v) => v.version === stableBefore)?.bad).toBeFalsy();
  });
});
