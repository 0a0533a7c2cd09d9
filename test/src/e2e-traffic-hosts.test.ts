import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rollout__Output } from '@flotilla/proto';
import { AGENT_MAIN, httpGet, tempDir } from './agent-process.js';
import { nginxAvailable } from './bench/nginx.js';
import { waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';
import { LoadGenerator, type LoadCounts } from './load.js';
import { cleanEnv, runToExit } from './spawn.js';
import { TrafficFront } from './traffic-front.js';

// Two hosts of one fleet on one machine, one nginx in front of both: the app's manifest names
// the same two slot ports for every host, and each agent's config (apps.demo.traffic) puts its
// slots, its upstream file and its upstream's name where they do not collide with the other's.

let dir: string;
let fleet: Fleet;
let front: TrafficFront;
let load: LoadGenerator;

/** Answers by `version pid` (the demo app answers `{version, pid}`). */
function byProcess(w: LoadCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [body, n] of Object.entries(w.byBody)) {
    if (n === 0) continue;
    const a = JSON.parse(body) as { version: string; pid: number };
    out[`${a.version} ${a.pid}`] = (out[`${a.version} ${a.pid}`] ?? 0) + n;
  }
  return out;
}

/** The processes each host's state.json names, as byProcess keys: the active release's and the one beside. */
async function processesOfHosts(): Promise<string[]> {
  const out: string[] = [];
  for (const i of [0, 1]) {
    const s = await saved(i);
    if (s.process) out.push(`${s.activeVersion} ${s.process.pid}`);
    if (s.traffic?.beside?.process) out.push(`${s.traffic.beside.version} ${s.traffic.beside.process.pid}`);
  }
  return out.sort();
}

async function answers(n: number): Promise<LoadCounts> {
  await front.nginx.settled();
  return load.next(n);
}

interface SavedApp {
  activeVersion: string | null;
  process: { pid: number } | null;
  traffic?: { activeSlot: string; weight: number; beside: { version: string; process: { pid: number } | null } | null };
}

async function saved(i: number): Promise<SavedApp> {
  return JSON.parse(await readFile(join(fleet.agents[i]!.dataDir, 'state.json'), 'utf8')).apps.demo;
}

beforeAll(async () => {
  if (!(await nginxAvailable())) throw new Error('nginx is not installed: run scripts/ensure-deps.sh --nginx');
  dir = await tempDir('e2e-traffic-hosts');
  front = await TrafficFront.start(join(dir, 'front'), 'demo', ['host-1', 'host-2']);
  fleet = await Fleet.startDeployed({
    dir: join(dir, 'fleet'),
    agents: 2,
    heartbeatInterval: '500ms',
    stable: '1.0.0',
    agentArgs: (i) => front.agentArgs(i),
    // What the app declares for every host; neither host listens there.
    manifest: { traffic: { slots: [{ port: 8081 }, { port: 8082 }] } },
  });
  load = LoadGenerator.start(front.url(), { ratePerSecond: 300 });
}, 180_000);

afterAll(async () => {
  await load?.stop();
  await fleet?.stop();
  await front?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("per-host traffic settings: two slotted agents on one machine behind one nginx", () => {
  it("runs each host's release on the slot ports its own config names, behind the upstream it names", async () => {
    const w = await answers(300);
    expect(w.failed).toBe(0);
    // Both hosts answer through nginx, and nothing else does.
    expect(Object.keys(byProcess(w)).sort()).toEqual(await processesOfHosts());
    expect(Object.keys(byProcess(w))).toHaveLength(2);
    for (const [i, h] of front.hosts.entries()) {
      const direct = await httpGet(h.slotPorts[0], '/');
      expect(direct.status).toBe(200);
      expect(JSON.parse(direct.body)).toMatchObject({ version: '1.0.0', pid: (await saved(i)).process?.pid });
      expect((await saved(i)).traffic).toMatchObject({ activeSlot: 'a', weight: 100 });
    }
  });

  it('moves both hosts to 50% and then 100% of a new version, each writing only its own upstream, with no failed request', async () => {
    await fleet.push('2.0.0');
    const started = await fleet.run([
      'rollout', 'start', 'demo@2.0.0', '--canary', '2', '--traffic', '50%,100%', '--min-healthy-time', '1s', '--canary-bake', '5s', '--json',
    ]);
    const id = (JSON.parse(started.stdout) as { rollout: Rollout__Output }).rollout.id;
    const bothAt50 = async (): Promise<boolean> =>
      (await Promise.all([saved(0), saved(1)])).every((a) => a.activeVersion === '2.0.0' && a.traffic?.weight === 50);
    await waitUntil('both hosts at 50%', bothAt50, { timeoutMs: 60_000, intervalMs: 100 });
    for (const h of front.hosts) {
      const file = await readFile(h.includeFile, 'utf8');
      expect(file).toContain(`upstream ${h.upstream} {`);
      expect(file).toContain(`server 127.0.0.1:${h.slotPorts[0]} weight=50; # slot a`);
      expect(file).toContain(`server 127.0.0.1:${h.slotPorts[1]} weight=50; # slot b`);
    }
    const w = await answers(400);
    // Weights only grow in a good rollout: still at 50% now means the window saw only 50%. A
    // machine too slow for the bake fails here, not as a wrong share.
    expect(await bothAt50(), 'the rollout left 50% while the share was measured (the canary bake is too short for this machine)').toBe(true);
    const split = byProcess(w);
    const share = Object.entries(split).reduce((n, [k, v]) => (k.startsWith('2.0.0 ') ? n + v : n), 0) / w.total;
    console.log(`e2e-traffic-hosts: at 50% on both hosts the new version answered ${(share * 100).toFixed(1)}% of ${w.total}: ${JSON.stringify(split)}`);
    expect(Math.abs(share - 0.5), JSON.stringify(split)).toBeLessThan(0.04);
    // Four processes answered: each host's old and new release, side by side.
    expect(Object.keys(split).sort()).toEqual(await processesOfHosts());
    expect(Object.keys(split)).toHaveLength(4);

    const done = await waitUntil('the rollout to end', async () => {
      const r = await fleet.rollout({ id });
      return ['succeeded', 'reverted', 'failed', 'aborted'].includes(r.status) ? r : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    expect(done.status, JSON.stringify(done.log)).toBe('succeeded');
    const after = await answers(300);
    expect(Object.keys(byProcess(after)).sort()).toEqual(await processesOfHosts());
    expect(Object.keys(byProcess(after)).every((k) => k.startsWith('2.0.0 '))).toBe(true);
    for (const [i, h] of front.hosts.entries()) {
      expect(JSON.parse((await httpGet(h.slotPorts[1], '/')).body)).toMatchObject({ version: '2.0.0', pid: (await saved(i)).process?.pid });
    }
    expect(load.failures).toEqual([]);
  });

  it('refuses to start an agent whose per-app traffic settings are wrong, naming the field', async () => {
    const bad = join(fleet.dir, 'bad-agent.yaml');
    await writeFile(bad, 'apps:\n  demo:\n    traffic:\n      slots: [{ port: 9081 }, { port: 9081 }]\n');
    const keys = ['--trusted-key', fleet.releaseKey.pubPath, '--controller-public-key', fleet.controllerKey.pubPath];
    const r = await runToExit(process.execPath, [AGENT_MAIN, '--config', bad, ...keys], { env: cleanEnv(), timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/apps\.demo\.traffic\.slots.*the two slots must differ/);
  });
});
