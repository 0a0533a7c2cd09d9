import { access, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppStatusReport, Heartbeat, SignedAssignment } from '@flotilla/shared';
import {
  AgentProcess,
  ArtifactServer,
  ControllerStandIn,
  HeartbeatWatch,
  buildDemoRelease,
  httpGet,
  runsHealthy,
  signRelease,
  writeKeyPair,
  type DemoRelease,
  type KeyFiles,
} from './agent-process.js';
import { waitUntil } from './deadline.js';
import { AgentFixture } from './agent-fixture.js';

const HOST = 'agent-converge-1';

let fx: AgentFixture;
let artifacts: ArtifactServer;
let ctl: ControllerStandIn;
let agent: AgentProcess;
let watch: HeartbeatWatch;
let dir: string;
let dataDir: string;
let port: number;
let releaseKey: KeyFiles;
let rogueKey: KeyFiles;
const releases: Record<string, DemoRelease> = {};

const demo = (hb: Heartbeat): AppStatusReport | undefined => hb.apps.find((a) => a.app === 'demo');
const assignmentOf = (version: string) => ({ version, release: signRelease(releases[version] as DemoRelease, releaseKey.signer) });

async function body(): Promise<string> {
  return (await httpGet(port, '/')).body;
}

const waitFor = (pred: (hb: Heartbeat) => boolean): Promise<Heartbeat> => fx.waitForHeartbeat(pred);

/** The next heartbeat sent after this moment, whatever it says. */
function nextHeartbeat(): Promise<Heartbeat> {
  const after = watch.last?.n ?? 0;
  return waitFor((hb) => hb.n > after);
}

beforeAll(async () => {
  fx = await AgentFixture.start('agent-converge', HOST);
  ({ artifacts, ctl, watch, dir, dataDir, port, releaseKey } = fx);
  rogueKey = await writeKeyPair(dir, 'rogue');
  for (const version of ['1.0.0', '2.0.0']) {
    const r = await buildDemoRelease({ version, outDir: dir });
    releases[version] = r;
    artifacts.serve(r.sha256, r.bytes);
  }
  agent = fx.spawnAgent();
  // The agent says hello before anything is assigned: an empty report, nothing accepted.
  const first = await waitFor(() => true);
  expect(first.acceptedSeq).toBe(0);
});

afterAll(async () => {
  await fx?.stop();
});

describe('flotilla-agent converging on its assignment', () => {
  let seq2: SignedAssignment;
  let firstPid: number | null = null;

  it('downloads, verifies and starts the assigned release, and reports it running and healthy', async () => {
    await ctl.assign(HOST, { demo: assignmentOf('1.0.0') });
    const hb = await waitFor((h) => h.acceptedSeq === 1 && runsHealthy('demo', '1.0.0')(h));
    const app = demo(hb) as AppStatusReport;
    expect(app.desiredVersion).toBe('1.0.0');
    expect(app.installPhase).toBe('done');
    expect(app.error).toBeNull();
    firstPid = app.pid;
    expect(await body()).toBe('1.0.0');
    expect(artifacts.downloadsOf((releases['1.0.0'] as DemoRelease).sha256)).toBeGreaterThanOrEqual(1);
    expect(await readlink(join(dataDir, 'apps', 'demo', 'current'))).toBe('releases/1.0.0');
  });

  it('replaces it with a new version', async () => {
    seq2 = (await ctl.assign(HOST, { demo: assignmentOf('2.0.0') })).signed;
    const hb = await waitFor((h) => h.acceptedSeq === 2 && runsHealthy('demo', '2.0.0')(h));
    expect(demo(hb)?.pid).not.toBe(firstPid);
    expect(await body()).toBe('2.0.0');
    expect(await readlink(join(dataDir, 'apps', 'demo', 'current'))).toBe('releases/2.0.0');
  });

  it('reverts to the previous version from disk, without a download', async () => {
    const downloadsBefore = artifacts.requests.length;
    await ctl.assign(HOST, { demo: assignmentOf('1.0.0') });
    await waitFor((h) => h.acceptedSeq === 3 && runsHealthy('demo', '1.0.0')(h));
    expect(await body()).toBe('1.0.0');
    expect(artifacts.requests.length).toBe(downloadsBefore);
    expect(agent.logLines().some((l) => l.msg === 'release already on disk; activating it without a download')).toBe(true);
  });

  it('ignores a replayed older assignment', async () => {
    await ctl.publish(HOST, seq2);
    const line = await agent.waitForLog((l) => l.msg === 'stale or replayed assignment ignored' && l.seq === 2);
    expect(line.acceptedSeq).toBe(3);
    const hb = await nextHeartbeat();
    expect(hb.acceptedSeq).toBe(3);
    expect(demo(hb)?.activeVersion).toBe('1.0.0');
    expect(await body()).toBe('1.0.0');
  });

  it('ignores an assignment signed by a key it does not trust', async () => {
    const { signed } = ctl.next(HOST, { demo: assignmentOf('2.0.0') }, rogueKey.signer);
    await ctl.publish(HOST, signed);
    await agent.waitForLog((l) => l.msg === 'assignment with an invalid signature ignored' && l.keyId === signed.keyId);
    const hb = await nextHeartbeat();
    expect(hb.acceptedSeq).toBe(3);
    expect(demo(hb)?.activeVersion).toBe('1.0.0');
    expect(await body()).toBe('1.0.0');
  });

  it('refuses a release descriptor for another version, and keeps the running one', async () => {
    const { seq } = await ctl.assign(HOST, { demo: { version: '3.0.0', release: assignmentOf('2.0.0').release } });
    const hb = await waitFor((h) => h.acceptedSeq === seq && demo(h)?.installPhase === 'failed');
    const app = demo(hb) as AppStatusReport;
    expect(app.installVersion).toBe('3.0.0');
    expect(app.error).toContain('expected "3.0.0"');
    expect(app.activeVersion).toBe('1.0.0');
    expect(app.processState).toBe('running');
    expect(await body()).toBe('1.0.0');
  });

  it('refuses a release descriptor for another app, and keeps the running one', async () => {
    const r = releases['2.0.0'] as DemoRelease;
    const foreign = signRelease({ ...r, app: 'other', version: '3.1.0' }, releaseKey.signer);
    const { seq } = await ctl.assign(HOST, { demo: { version: '3.1.0', release: foreign } });
    const hb = await waitFor((h) => h.acceptedSeq === seq && demo(h)?.installPhase === 'failed' && demo(h)?.installVersion === '3.1.0');
    expect(demo(hb)?.error).toContain('expected "demo"');
    expect(demo(hb)?.activeVersion).toBe('1.0.0');
    expect(await body()).toBe('1.0.0');
  });

  it('refuses tampered artifact bytes after downloading them again in full, and keeps the running one', async () => {
    const r = await buildDemoRelease({ version: '4.0.0', outDir: dir });
    releases['4.0.0'] = r;
    const tampered = Buffer.from(r.bytes);
    const at = Math.floor(tampered.length / 2);
    tampered[at] = (tampered[at] as number) ^ 0xff;
    artifacts.serve(r.sha256, tampered);
    const { seq } = await ctl.assign(HOST, { demo: assignmentOf('4.0.0') });
    const hb = await waitFor((h) => h.acceptedSeq === seq && demo(h)?.installPhase === 'failed' && demo(h)?.installVersion === '4.0.0');
    expect(demo(hb)?.error).toMatch(/sha-?256/i);
    expect(demo(hb)?.activeVersion).toBe('1.0.0');
    expect(artifacts.downloadsOf(r.sha256)).toBeGreaterThanOrEqual(2);
    await expect(access(join(dataDir, 'apps', 'demo', 'releases', '4.0.0'))).rejects.toThrow();
    expect(await body()).toBe('1.0.0');
  });

  it('aborts the activation when the preActivate hook fails, and keeps the running one', async () => {
    const r = await buildDemoRelease({
      version: '5.0.0',
      outDir: dir,
      manifest: { hooks: { preActivate: { command: 'echo migration refused >&2; exit 3', timeout: '10s' } } },
    });
    releases['5.0.0'] = r;
    artifacts.serve(r.sha256, r.bytes);
    const { seq } = await ctl.assign(HOST, { demo: assignmentOf('5.0.0') });
    const hb = await waitFor((h) => h.acceptedSeq === seq && demo(h)?.installPhase === 'failed' && demo(h)?.installVersion === '5.0.0');
    expect(demo(hb)?.error).toContain('preActivate hook');
    expect(demo(hb)?.error).toContain('exited with code 3');
    expect(demo(hb)?.error).toContain('migration refused');
    expect(demo(hb)?.activeVersion).toBe('1.0.0');
    expect(await readlink(join(dataDir, 'apps', 'demo', 'current'))).toBe('releases/1.0.0');
    expect(await body()).toBe('1.0.0');
  });

  it('calls off an install in flight when a newer assignment wants something else', async () => {
    const slow = await buildDemoRelease({ version: '6.0.0', outDir: dir });
    releases['6.0.0'] = slow;
    artifacts.serve(slow.sha256, slow.bytes);
    artifacts.stall(slow.sha256);
    try {
      const { seq: slowSeq } = await ctl.assign(HOST, { demo: assignmentOf('6.0.0') });
      await waitFor((h) => h.acceptedSeq === slowSeq && demo(h)?.installPhase === 'downloading' && demo(h)?.installVersion === '6.0.0');
      const { seq } = await ctl.assign(HOST, { demo: assignmentOf('2.0.0') });
      // Running healthy comes before the install's last steps (persist, post-start, prune): wait for all.
      const hb = await waitFor((h) => h.acceptedSeq === seq && runsHealthy('demo', '2.0.0')(h) && demo(h)?.installPhase === 'done');
      expect(demo(hb)?.installVersion).toBe('2.0.0');
      expect(await body()).toBe('2.0.0');
      await agent.waitForLog((l) => l.msg === 'newer assignment calls off the install in flight' && l.version === '6.0.0');
      await waitUntil('the stalled download called off', () => artifacts.cancelled.includes(slow.sha256)).catch(() => undefined);
      expect(artifacts.cancelled).toContain(slow.sha256);
      await expect(access(join(dataDir, 'apps', 'demo', 'releases', '6.0.0'))).rejects.toThrow();
    } finally {
      artifacts.unstall(slow.sha256);
    }
  });

  it('stops an app that is no longer assigned, keeping its releases on disk', async () => {
    const { seq } = await ctl.assign(HOST, {});
    const hb = await waitFor((h) => h.acceptedSeq === seq && demo(h)?.processState === 'stopped');
    expect(demo(hb)?.desiredVersion).toBeNull();
    expect((await httpGet(port, '/')).status).toBe(0);
    await access(join(dataDir, 'apps', 'demo', 'releases', '1.0.0', 'flotilla.json'));
  });
});
