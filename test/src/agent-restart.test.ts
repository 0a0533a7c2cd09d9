import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppStatusReport, Heartbeat } from '@flotilla/shared';
import {
  AgentProcess,
  ArtifactServer,
  ControllerStandIn,
  buildDemoRelease,
  httpGet,
  killAppsOf,
  pidAlive,
  runsHealthy,
  signRelease,
  type DemoRelease,
} from './agent-process.js';
import { AgentFixture } from './agent-fixture.js';
import { waitUntil } from './deadline.js';

const HOST = 'agent-restart-1';

let fx: AgentFixture;
let artifacts: ArtifactServer;
let ctl: ControllerStandIn;
let dataDir: string;
let port: number;
let release: DemoRelease;
let agent: AgentProcess | undefined;

const demo = (hb: Heartbeat): AppStatusReport | undefined => hb.apps.find((a) => a.app === 'demo');
const waitFor = (pred: (hb: Heartbeat) => boolean): Promise<Heartbeat> => fx.waitForHeartbeat(pred);

beforeAll(async () => {
  fx = await AgentFixture.start('agent-restart', HOST);
  ({ artifacts, ctl, dataDir, port } = fx);
  release = await buildDemoRelease({ version: '1.0.0', outDir: fx.dir });
  artifacts.serve(release.sha256, release.bytes);
  // The assignment exists before any agent runs: only a sync can deliver it.
  await ctl.assign(HOST, { demo: { version: '1.0.0', release: signRelease(release, fx.releaseKey.signer) } }, false);
});

afterAll(async () => {
  await fx?.stop();
});

describe('flotilla-agent across its own restarts', () => {
  let appPid: number;

  it('converges via sync when it starts after the assignment was made', async () => {
    agent = fx.spawnAgent();
    const hb = await waitFor((h) => h.acceptedSeq === 1 && runsHealthy('demo', '1.0.0')(h));
    appPid = demo(hb)?.pid as number;
    expect(ctl.syncRequests).toContain(HOST);
    expect((await httpGet(port, '/')).body).toBe('1.0.0');
  });

  it('leaves the app running when the agent is killed, and re-adopts the same process after a restart', async () => {
    await (agent as AgentProcess).kill();
    expect(pidAlive(appPid)).toBe(true);
    expect((await httpGet(port, '/')).body).toBe('1.0.0');

    const downloadsBefore = artifacts.requests.length;
    agent = fx.spawnAgent();
    await agent.waitForLog((l) => l.msg === 'app re-adopted' && l.pid === appPid);
    const hb = await waitFor((h) => runsHealthy('demo', '1.0.0')(h));
    expect(demo(hb)?.pid).toBe(appPid);
    expect(hb.acceptedSeq).toBe(1);
    expect(artifacts.requests.length).toBe(downloadsBefore);
    expect((await httpGet(port, '/')).body).toBe('1.0.0');
  });

  it('exits 0 on SIGTERM and leaves the app serving', async () => {
    const exit = await (agent as AgentProcess).stop();
    expect(exit.code).toBe(0);
    expect(pidAlive(appPid)).toBe(true);
    expect((await httpGet(port, '/')).body).toBe('1.0.0');
  });

  it('starts the app again from current when it died while the agent was away', async () => {
    await killAppsOf(dataDir);
    await waitUntil('the app process gone', () => !pidAlive(appPid)).catch(() => undefined);
    expect((await httpGet(port, '/')).status).toBe(0);

    agent = fx.spawnAgent();
    await agent.waitForLog((l) => l.msg === 'app process is gone; starting it again');
    const hb = await waitFor((h) => runsHealthy('demo', '1.0.0')(h));
    expect(demo(hb)?.pid).not.toBe(appPid);
    expect((await httpGet(port, '/')).body).toBe('1.0.0');
  });
});
