import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppAssignment, Heartbeat } from '@flotilla/shared';
import { AgentFixture } from './agent-fixture.js';
import {
  buildDemoRelease,
  demoManifest,
  demoServerSource,
  freePort,
  pidAlive as alive,
  runsHealthy,
  signRelease,
  type DemoRelease,
} from './agent-process.js';
import { type Nginx, nginxAvailable } from './bench/nginx.js';
import { waitUntil } from './deadline.js';
import { LoadGenerator, type LoadCounts } from './load.js';
import { releaseTarballBytes, sha256Hex } from './release-tarball.js';
import { startSlotsNginx } from './slots-nginx.js';

// A real agent runs the demo app in two slots behind Debian's nginx, which it drives itself;
// a load generator goes through nginx the whole time and checks every answer.

const HOST = 'traffic-agent-1';
const APP = 'demo';

let fx: AgentFixture;
let nginx: Nginx;
let load: LoadGenerator;
let slotPorts: [number, number];
let agentArgs: string[];
const releases: Record<string, DemoRelease> = {};

const assignmentOf = (version: string, traffic?: AppAssignment['traffic']): AppAssignment => ({
  version,
  release: signRelease(releases[version] as DemoRelease, fx.releaseKey.signer),
  ...(traffic ? { traffic } : {}),
});

interface SavedTraffic {
  activeSlot: 'a' | 'b';
  weight: number;
  beside: { version: string; process: { pid: number } | null } | null;
}

/** What the agent's state.json says of the app (what an operator would look at on the host). */
async function saved(): Promise<{ activeVersion: string | null; process: { pid: number } | null; traffic?: SavedTraffic }> {
  return JSON.parse(await readFile(join(fx.dataDir, 'state.json'), 'utf8')).apps[APP];
}

async function waitState(what: string, pred: (s: Awaited<ReturnType<typeof saved>>) => boolean) {
  try {
    return await waitUntil(what, async () => {
      const s = await saved();
      return pred(s) ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstate: ${JSON.stringify(await saved().catch(() => null))}\nagent output tail:\n${fx.agent?.tail(15)}`);
  }
}

/** The bodies that were answered at least once. */
const bodies = (w: LoadCounts): string[] => Object.keys(w.byBody).filter((b) => (w.byBody[b] ?? 0) > 0).sort();

/** The next `n` answers through nginx once only its newest workers answer. */
async function answers(n: number): Promise<LoadCounts> {
  await nginx.settled();
  return load.next(n);
}

async function badRelease(version: string, dir: string): Promise<DemoRelease> {
  // Healthy on /healthz, 500 on every real request: what only an alert or the requests would show.
  const source = demoServerSource(version).replace("res.writeHead(200, { 'content-type': 'text/plain' });", "res.writeHead(500, { 'content-type': 'text/plain' });");
  const manifest = { ...demoManifest(APP, version), traffic: { slots: slotPorts.map((port) => ({ port })) } };
  const bytes = await releaseTarballBytes({ 'flotilla.json': JSON.stringify(manifest), 'server.mjs': source });
  return { app: APP, version, path: join(dir, `${APP}-${version}.tar.gz`), bytes, sha256: sha256Hex(bytes), size: bytes.length };
}

beforeAll(async () => {
  if (!(await nginxAvailable())) throw new Error('nginx is not installed: run scripts/ensure-deps.sh --bench');
  fx = await AgentFixture.start('traffic-agent', HOST);
  slotPorts = [await freePort(), await freePort()];
  const traffic = { slots: slotPorts.map((port) => ({ port })) };
  for (const version of ['1.0.0', '2.0.0']) {
    const r = await buildDemoRelease({ version, outDir: fx.dir, manifest: { traffic } });
    releases[version] = r;
    fx.artifacts.serve(r.sha256, r.bytes);
  }
  const bad = await badRelease('3.0.0', fx.dir);
  releases['3.0.0'] = bad;
  fx.artifacts.serve(bad.sha256, bad.bytes);

  const front = await startSlotsNginx(fx.dir, APP, slotPorts);
  nginx = front.nginx;
  const config = await front.writeAgentConfig(join(fx.dir, 'agent.yaml'), { drainWait: '500ms' });
  agentArgs = ['--config', config];
  fx.spawnAgent({ extraArgs: agentArgs });
}, 120_000);

afterAll(async () => {
  await load?.stop();
  await fx?.stop();
  await nginx?.stop();
});

describe('a release beside the old one behind nginx, driven by a real agent', () => {
  let oldPid: number;
  let newPid: number;

  it('serves the first release from slot a with all traffic', async () => {
    await fx.ctl.assign(HOST, { [APP]: assignmentOf('1.0.0') });
    const hb = await fx.waitForHeartbeat(runsHealthy(APP, '1.0.0'));
    oldPid = hb.apps.find((a) => a.app === APP)?.pid as number;
    await waitState('slot a at 100%', (s) => s.traffic?.activeSlot === 'a' && s.traffic.weight === 100);
    load = LoadGenerator.start(nginx.url(''), { ratePerSecond: 300 });
    expect(bodies(await answers(300))).toEqual(['1.0.0']);
  });

  it('moves 2.0.0 through 10% and 50%, survives an agent SIGKILL mid-shift, then 100% and retires 1.0.0', async () => {
    for (const weight of [10, 50]) {
      await fx.ctl.assign(HOST, { [APP]: assignmentOf('2.0.0', { weight }) });
      await waitState(`2.0.0 at ${weight}%`, (s) => s.activeVersion === '2.0.0' && s.traffic?.weight === weight);
      const w = await answers(600);
      const share = (w.byBody['2.0.0'] ?? 0) / w.total;
      expect(Math.abs(share - weight / 100), `${weight}%: ${JSON.stringify(w)}`).toBeLessThan(0.04);
      expect(w.failed).toBe(0);
      console.log(`traffic-agent: at ${weight}% the new version answered ${(share * 100).toFixed(1)}% of ${w.total} requests`);
    }
    const hb = await fx.waitForHeartbeat(runsHealthy(APP, '2.0.0'));
    newPid = hb.apps.find((a) => a.app === APP)?.pid as number;
    expect(alive(oldPid)).toBe(true);

    // Killed mid-shift: the next agent adopts both processes and keeps the weights.
    fx.agent?.child.kill('SIGKILL');
    await fx.agent?.exited;
    fx.spawnAgent({ extraArgs: agentArgs });
    const after = await fx.waitForHeartbeat((h) => h.acceptedSeq >= 3 && runsHealthy(APP, '2.0.0')(h));
    expect(after.apps.find((a) => a.app === APP)?.pid).toBe(newPid);
    expect(alive(oldPid)).toBe(true);
    expect((await saved()).traffic).toMatchObject({ activeSlot: 'b', weight: 50, beside: { version: '1.0.0', process: { pid: oldPid } } });

    await fx.ctl.assign(HOST, { [APP]: assignmentOf('2.0.0', { weight: 100, retire: true }) });
    await waitState('1.0.0 retired', (s) => s.traffic?.weight === 100 && s.traffic.beside === null);
    await waitUntil('the 1.0.0 process to end', () => !alive(oldPid), { timeoutMs: 20_000 });
    expect(bodies(await answers(300))).toEqual(['2.0.0']);
    expect(load.failures).toEqual([]);
  });

  it('puts a bad version at 10% back by weight alone: the old PID never changes', async () => {
    const failedBefore = load.failures.length;
    await fx.ctl.assign(HOST, { [APP]: assignmentOf('3.0.0', { weight: 10 }) });
    await waitState('3.0.0 at 10%', (s) => s.activeVersion === '3.0.0' && s.traffic?.weight === 10);
    const w = await answers(400);
    expect(w.failed).toBeGreaterThan(0);

    const revertAtMs = Date.now();
    await fx.ctl.assign(HOST, { [APP]: assignmentOf('2.0.0') });
    await waitState('reverted to 2.0.0', (s) => s.activeVersion === '2.0.0' && s.traffic?.weight === 100 && s.traffic.beside === null);
    const hb: Heartbeat = await fx.waitForHeartbeat(runsHealthy(APP, '2.0.0'));
    expect(hb.apps.find((a) => a.app === APP)?.pid).toBe(newPid);
    const clean = await answers(400);
    expect(clean.failed).toBe(0);
    expect(bodies(clean)).toEqual(['2.0.0']);
    // Every failed request was one the bad version answered itself.
    const failed = load.failures.slice(failedBefore);
    expect(new Set(failed.map((f) => f.what))).toEqual(new Set(['500 3.0.0']));
    const lastBad = Math.max(...failed.map((f) => f.atMs));
    console.log(
      `traffic-agent: ${failed.length} failed requests during the bad version at 10%, all answered by it; ` +
        `the last came ${lastBad - revertAtMs} ms after the revert was assigned`,
    );
  });
});
