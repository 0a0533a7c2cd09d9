import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppStatusReport, Heartbeat } from '@flotilla/shared';
import {
  AgentProcess,
  ArtifactServer,
  ControllerStandIn,
  HeartbeatWatch,
  buildDemoRelease,
  freePort,
  httpGet,
  killAppsOf,
  pidAlive,
  runsHealthy,
  signRelease,
  tempDir,
  writeKeyPair,
  type AgentProcessOptions,
  type DemoRelease,
} from './agent-process.js';
import { waitUntil } from './deadline.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const HOST = 'agent-restart-1';

let nats: NatsServer;
let artifacts: ArtifactServer;
let ctl: ControllerStandIn;
let watch: HeartbeatWatch;
let dir: string;
let dataDir: string;
let port: number;
let release: DemoRelease;
let options: AgentProcessOptions;
let agent: AgentProcess | undefined;

const demo = (hb: Heartbeat): AppStatusReport | undefined => hb.apps.find((a) => a.app === 'demo');

function waitFor(pred: (hb: Heartbeat) => boolean): Promise<Heartbeat> {
  return watch.waitFor(pred, 45_000, () => `agent output tail:\n${agent?.tail(30) ?? '(no agent)'}`);
}

beforeAll(async () => {
  dir = await tempDir('agent-restart');
  dataDir = join(dir, 'data');
  nats = await startNatsServer();
  artifacts = await ArtifactServer.start();
  const releaseKey = await writeKeyPair(dir, 'release');
  const controllerKey = await writeKeyPair(dir, 'controller');
  release = await buildDemoRelease({ version: '1.0.0', outDir: dir });
  artifacts.serve(release.sha256, release.bytes);
  ctl = await ControllerStandIn.start(nats.url, controllerKey.signer);
  watch = new HeartbeatWatch(ctl.nc, HOST);
  port = await freePort();
  options = {
    hostId: HOST,
    natsUrl: nats.url,
    dataDir,
    controller: artifacts.address,
    trustedKeys: [releaseKey.pubPath],
    controllerPublicKeys: [controllerKey.pubPath],
    appEnv: [`demo:PORT=${port}`],
  };
  // The assignment exists before any agent runs: only a sync can deliver it.
  await ctl.assign(HOST, { demo: { version: '1.0.0', release: signRelease(release, releaseKey.signer) } }, false);
});

afterAll(async () => {
  watch?.stop();
  await agent?.stop();
  await killAppsOf(dataDir);
  await ctl?.stop();
  await artifacts?.stop();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('flotilla-agent across its own restarts', () => {
  let appPid: number;

  it('converges via sync when it starts after the assignment was made', async () => {
    agent = AgentProcess.spawn(options);
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
    agent = AgentProcess.spawn(options);
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

    agent = AgentProcess.spawn(options);
    await agent.waitForLog((l) => l.msg === 'app process is gone; starting it again');
    const hb = await waitFor((h) => runsHealthy('demo', '1.0.0')(h));
    expect(demo(hb)?.pid).not.toBe(appPid);
    expect((await httpGet(port, '/')).body).toBe('1.0.0');
  });
});
