import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rollout__Output } from '@flotilla/proto';
import { pidAlive as alive, tempDir } from './agent-process.js';
import { fireAlertmanager } from './alerts.js';
import { nginxAvailable } from './bench/nginx.js';
import { waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';
import { LoadGenerator, type LoadCounts } from './load.js';
import { answersByVersion as byVersion, startSlotsNginx, type SlotsNginx } from './slots-nginx.js';
import { slotPort } from './traffic-front.js';

const TOKEN = 'e2e-traffic-alerts-token-0123456789ab';

// `flotilla rollout start --traffic` end to end: a real controller, an agent driving Debian's
// nginx, the demo app in two slots, and a load generator through nginx checking every answer.

let dir: string;
let fleet: Fleet;
let front: SlotsNginx;
let load: LoadGenerator;

interface SavedApp {
  activeVersion: string | null;
  process: { pid: number } | null;
  traffic?: { activeSlot: string; weight: number; beside: { version: string; process: { pid: number } | null } | null };
}

async function saved(): Promise<SavedApp> {
  return JSON.parse(await readFile(join(fleet.agents[0]!.dataDir, 'state.json'), 'utf8')).apps.demo;
}

async function answers(n: number): Promise<LoadCounts> {
  await front.settled();
  return load.next(n);
}

async function startTraffic(version: string, ...flags: string[]): Promise<string> {
  const started = await fleet.run(['rollout', 'start', `demo@${version}`, '--canary', '1', '--min-healthy-time', '1s', '--traffic', '10%,50%,100%', ...flags, '--json']);
  return (JSON.parse(started.stdout) as { rollout: Rollout__Output }).rollout.id;
}

/**
 * After a revert: all of the traffic back on `stable`, served by the process that ran before the
 * rollout (`pid`), the bad version gone from beside it, and every request that failed since
 * `failedBefore` answered by the bad version itself. Returns how many failed.
 */
async function expectRevertedTo(stable: string, pid: number, bad: string, failedBefore: number): Promise<number> {
  await waitUntil(`all of the traffic back on ${stable}`, async () => {
    const s = await saved();
    return s.activeVersion === stable && s.traffic?.weight === 100 && s.traffic.beside === null;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  const s = await saved();
  expect(s.process?.pid).toBe(pid);
  expect(alive(pid)).toBe(true);
  const clean = await answers(300);
  expect(Object.keys(byVersion(clean))).toEqual([stable]);
  expect(clean.failed).toBe(0);
  const failed = load.failures.slice(failedBefore);
  expect(failed.filter((f) => !f.what.includes(`"version":"${bad}"`))).toEqual([]);
  return failed.length;
}

async function rollout(id: string): Promise<Rollout__Output> {
  return JSON.parse((await fleet.run(['rollout', 'status', id, '--json'])).stdout) as Rollout__Output;
}

beforeAll(async () => {
  if (!(await nginxAvailable())) throw new Error('nginx is not installed: run scripts/ensure-deps.sh --bench');
  dir = await tempDir('e2e-traffic');
  const ports: [number, number] = [await slotPort(), await slotPort()];
  front = await startSlotsNginx(dir, 'demo', ports);
  const config = await front.writeAgentConfig(join(dir, 'agent.yaml'), { drainWait: '500ms' });
  fleet = await Fleet.startDeployed({
    dir: join(dir, 'fleet'),
    agents: 1,
    heartbeatInterval: '500ms',
    controllerEnv: { FLOTILLA_ALERTS_TOKEN: TOKEN },
    stable: '1.0.0',
    agentArgs: () => ['--config', config],
    // Twenty missed heartbeats (10 s) before the host counts as silent, about what the default
    // 5 s interval and 3 misses give a real host: the SIGKILL case below restarts its agent, which
    // takes seconds on a loaded machine, and a restarted agent is not a host going away.
    controllerConfig: 'hosts:\n  downAfterMissed: 20\n',
    manifest: { traffic: { slots: ports.map((port) => ({ port })) } },
  });
  load = LoadGenerator.start(front.nginx.url(''), { ratePerSecond: 300 });
}, 180_000);

afterAll(async () => {
  await load?.stop();
  await fleet?.stop();
  await front?.nginx.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('rollout start --traffic through nginx', () => {
  it('moves a good version through 10% and 50% to 100% with no failed request, then stops the old process', async () => {
    expect(Object.keys(byVersion(await answers(300)))).toEqual(['1.0.0']);
    const oldPid = (await saved()).process!.pid;
    await fleet.push('2.0.0');
    const started = await fleet.run(['rollout', 'start', 'demo@2.0.0', '--canary', '1', '--min-healthy-time', '1s', '--canary-bake', '2s', '--traffic', '10%,50%', '--json']);
    const id = (JSON.parse(started.stdout) as { rollout: Rollout__Output }).rollout.id;
    for (const weight of [10, 50]) {
      await waitUntil(`2.0.0 at ${weight}%`, async () => {
        const s = await saved();
        return s.activeVersion === '2.0.0' && s.traffic?.weight === weight;
      }, { timeoutMs: 60_000, intervalMs: 100 });
      const w = await answers(600);
      const share = (byVersion(w)['2.0.0'] ?? 0) / w.total;
      console.log(`e2e-traffic: at ${weight}% the new version answered ${(share * 100).toFixed(1)}% of ${w.total} requests`);
      expect(Math.abs(share - weight / 100), `${weight}%: ${JSON.stringify(byVersion(w))}`).toBeLessThan(0.04);
      expect(alive(oldPid)).toBe(true);
    }
    const done = await waitUntil('the rollout to succeed', async () => {
      const r = await rollout(id);
      return r.status === 'succeeded' ? r : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    expect(done.log.filter((e) => e.kind === 'step-passed').map((e) => e.message)).toEqual([
      'canary passed at 10% of the traffic',
      'canary passed at 50% of the traffic',
      'canary passed at 100% of the traffic',
    ]);
    await waitUntil('the 1.0.0 process to end', () => !alive(oldPid), { timeoutMs: 20_000 });
    expect(Object.keys(byVersion(await answers(300)))).toEqual(['2.0.0']);
    expect(load.failures).toEqual([]);
  });

  it('reverts a version whose health check starts failing at 10%: the old process keeps its PID and gets all of the traffic back', async () => {
    const oldPid = (await saved()).process!.pid;
    const failedBefore = load.failures.length;
    const before = load.counts();
    // Healthy long enough to pass its first check and take 10% of the requests, then /healthz
    // answers 500 (the demo's `unhealthy-after`): the health gate trips during the canary bake.
    await fleet.push('3.0.0', 'unhealthy-after', { DEMO_HEALTHY_FOR: '4' });
    const id = await startTraffic('3.0.0', '--canary-bake', '1m');
    const ended = await waitUntil('the rollout to be reverted', async () => {
      const r = await rollout(id);
      return r.status === 'reverted' || r.status === 'failed' ? r : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    expect(ended.status, JSON.stringify(ended.log)).toBe('reverted');
    const failed = await expectRevertedTo('2.0.0', oldPid, '3.0.0', failedBefore);
    const during = byVersion(LoadGenerator.between(before, load.counts()));
    // It did serve: the revert took traffic away from a version that had some.
    expect(during['3.0.0'] ?? 0).toBeGreaterThan(0);
    console.log(`e2e-traffic: bad version at 10% answered ${during['3.0.0']} requests; ${failed} failed, all answered by it`);
  });

  it('an Alertmanager alert during a traffic step puts all of the traffic back on the old process at once', async () => {
    const oldPid = (await saved()).process!.pid;
    const failedBefore = load.failures.length;
    await fleet.push('4.0.0');
    // A bake long enough that the alert finds the canary at 10%.
    const id = await startTraffic('4.0.0', '--canary-bake', '5m');
    await waitUntil('4.0.0 at 10%', async () => {
      const s = await saved();
      return s.activeVersion === '4.0.0' && s.traffic?.weight === 10;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const w = await answers(300);
    expect(byVersion(w)['4.0.0'] ?? 0).toBeGreaterThan(0);

    const alertAtMs = Date.now();
    const reply = await fireAlertmanager(fleet.controller.http, TOKEN, 'demo');
    expect(reply.status).toBe(202);
    // When the agent recorded all of the traffic back on 2.0.0 (state.json, polled every 20 ms).
    await waitUntil('the weight back on 2.0.0', async () => {
      const s = await saved();
      return s.activeVersion === '2.0.0' && s.traffic?.weight === 100;
    }, { timeoutMs: 30_000, intervalMs: 20 });
    const backMs = Date.now() - alertAtMs;
    expect(reply.body.apps).toEqual([expect.objectContaining({ app: 'demo', action: 'reverted', rolloutId: id, toVersion: '2.0.0' })]);
    const failed = await expectRevertedTo('2.0.0', oldPid, '4.0.0', failedBefore);
    expect(await rollout(id)).toMatchObject({ status: 'reverted', ended_by: 'alarm:alertmanager' });
    console.log(`e2e-traffic: alert at 10%: all of the traffic back on 2.0.0 ${backMs} ms after the webhook was posted; ${failed} failed requests`);
  });

  it('reverts a version that passes its health check and crashes 2 s after start at 10%: nginx retries what the crash refused, so no request fails', async () => {
    const oldPid = (await saved()).process!.pid;
    const failedBefore = load.failures.length;
    const before = load.counts();
    // Healthy at its first probe, so it takes 10% of the requests, then it exits: the agent
    // restarts it, it crashes again, and the gate trips on the crash loop or on its health.
    await fleet.push('5.0.0', 'crash', { DEMO_CRASH_AFTER: '2' });
    const id = await startTraffic('5.0.0', '--canary-bake', '1m', '--max-restarts', '1');
    await waitUntil('5.0.0 at 10%', async () => {
      const s = await saved();
      return s.activeVersion === '5.0.0' && s.traffic?.weight === 10;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    const ended = await waitUntil('the rollout to be reverted', async () => {
      const r = await rollout(id);
      return r.status === 'reverted' || r.status === 'failed' ? r : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    expect(ended.status, JSON.stringify(ended.log)).toBe('reverted');
    const failed = await expectRevertedTo('2.0.0', oldPid, '5.0.0', failedBefore);
    const during = byVersion(LoadGenerator.between(before, load.counts()));
    expect(during['5.0.0'] ?? 0).toBeGreaterThan(0);
    // A crashed process answers nothing: nginx sees the refused (or cut) connection before any
    // response header and sends the GET on to the other slot (proxy_next_upstream's default,
    // `error timeout`), then leaves the dead slot out for its fail_timeout. The client never
    // sees the crash, so not one request fails; a request the bad version did answer was a 200.
    expect(failed).toBe(0);
    console.log(
      `e2e-traffic: version crashing 2 s after start at 10%: it answered ${during['5.0.0']} requests, ${failed} failed; ` +
        `reverted by ${ended.ended_by || 'the gate'}: ${ended.log.filter((e) => e.kind === 'host-failed').map((e) => e.message).join('; ')}`,
    );
  });

  it('an agent SIGKILLed after a weight step adopts both processes and the weight on its return, and the rollout completes with no failed request', async () => {
    const oldPid = (await saved()).process!.pid;
    const failedBefore = load.failures.length;
    await fleet.push('6.0.0');
    const id = await startTraffic('6.0.0', '--canary-bake', '3s');
    const at10 = await waitUntil('6.0.0 at 10%', async () => {
      const s = await saved();
      return s.activeVersion === '6.0.0' && s.traffic?.weight === 10 && s.process !== null ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    const newPid = at10.process!.pid;

    const agent = fleet.agents[0]!.process!;
    agent.child.kill('SIGKILL');
    await agent.exited;
    expect(alive(oldPid) && alive(newPid)).toBe(true);
    const restartedAtMs = Date.now();
    fleet.startAgent(0);
    // The new agent supervises both where they run and takes the rollout on from there.
    const adopted = await waitUntil('the new agent to report 6.0.0 healthy', async () => {
      const h = (await fleet.hosts())[0];
      const app = h?.apps.find((a) => a.app === 'demo');
      const fresh = Number(h?.last_seen_ms ?? 0) > restartedAtMs;
      return fresh && app?.active_version === '6.0.0' && app.health === 'healthy' ? app : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    console.log(`e2e-traffic: the restarted agent's first report came ${Date.now() - restartedAtMs} ms after its start`);
    expect(Number(adopted.pid)).toBe(newPid);
    const s = await saved();
    expect(s.process?.pid).toBe(newPid);
    // The 100% step is at least two gated steps away: the old release is still beside, at its share.
    expect(s.traffic).toMatchObject({ beside: { version: '2.0.0', process: { pid: oldPid } } });
    expect([10, 50]).toContain(s.traffic?.weight);
    // What nginx was given matches what the agent says it applied: the new slot at that weight
    // (read as a pair; the rollout may move on between two reads, the file first).
    await waitUntil('the upstream file to match the applied weight', async () => {
      const file = await readFile(join(front.includeDir, 'flotilla-demo.conf'), 'utf8');
      const now = await saved();
      return now.traffic?.beside?.process?.pid === oldPid && file.includes(`weight=${now.traffic.weight}; # slot ${now.traffic.activeSlot}`);
    }, { timeoutMs: 10_000, intervalMs: 50 });

    const done = await waitUntil('the rollout to succeed', async () => {
      const r = await rollout(id);
      return ['succeeded', 'reverted', 'failed', 'aborted'].includes(r.status) ? r : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    expect(done.status, `${JSON.stringify(done.log)}\n${fleet.diagnostics()}`).toBe('succeeded');
    await waitUntil('the 2.0.0 process to end', () => !alive(oldPid), { timeoutMs: 20_000 });
    expect((await saved()).process?.pid).toBe(newPid);
    expect(Object.keys(byVersion(await answers(300)))).toEqual(['6.0.0']);
    expect(load.failures.slice(failedBefore)).toEqual([]);
    console.log(`e2e-traffic: agent SIGKILLed at 10%: both processes adopted (pids ${oldPid}, ${newPid}), rollout ${done.status}, 0 failed requests`);
  });
});
