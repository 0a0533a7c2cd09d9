import { execFileSync } from 'node:child_process';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
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
  runsHealthy,
  signRelease,
  tempDir,
  writeKeyPair,
  type AgentProcessOptions,
  type DemoRelease,
  type KeyFiles,
} from './agent-process.js';
import { markedProcesses } from './marked-processes.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

/**
 * The agent under the faults that used to strand or duplicate an app: a controller that is away
 * when an install starts, a SIGKILL at every install step (among them between the spawn of the
 * new process and saving its pid), and a disk too full to save an assignment.
 */

let nats: NatsServer;
let ctl: ControllerStandIn;
let dir: string;
let releaseKey: KeyFiles;
let controllerKey: KeyFiles;
const cleanups: Array<() => Promise<void>> = [];

const demo = (hb: Heartbeat): AppStatusReport | undefined => hb.apps.find((a) => a.app === 'demo');

beforeAll(async () => {
  dir = await tempDir('agent-faults');
  nats = await startNatsServer();
  releaseKey = await writeKeyPair(dir, 'release');
  controllerKey = await writeKeyPair(dir, 'controller');
  ctl = await ControllerStandIn.start(nats.url, controllerKey.signer);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await ctl?.stop();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** One host: its own data dir, port, heartbeat watch and agent. */
async function host(name: string, controller: string, dataDir = join(dir, name)) {
  const port = await freePort();
  const watch = new HeartbeatWatch(ctl.nc, name);
  const options: AgentProcessOptions = {
    hostId: name,
    natsUrl: nats.url,
    dataDir,
    controller,
    trustedKeys: [releaseKey.pubPath],
    controllerPublicKeys: [controllerKey.pubPath],
    appEnv: [`demo:PORT=${port}`],
  };
  const h = {
    port,
    dataDir,
    watch,
    agent: undefined as AgentProcess | undefined,
    start(env?: Record<string, string>): AgentProcess {
      h.agent = AgentProcess.spawn({ ...options, ...(env ? { env } : {}) });
      return h.agent;
    },
    waitFor(pred: (hb: Heartbeat) => boolean): Promise<Heartbeat> {
      return watch.waitFor(pred, 60_000, () => `agent output tail:\n${h.agent?.tail(30) ?? '(no agent)'}`);
    },
  };
  cleanups.push(async () => {
    watch.stop();
    await h.agent?.stop();
    await killAppsOf(dataDir);
    for (const pid of markedProcesses(dataDir)) process.kill(-pid, 'SIGKILL');
  });
  return h;
}

function assign(hostId: string, release: DemoRelease) {
  return ctl.assign(hostId, { demo: { version: release.version, release: signRelease(release, releaseKey.signer) } });
}

describe('a transient install failure', () => {
  it('is retried on the agent\'s own timer: the controller was away when the install began, and came back', async () => {
    const artifactPort = await freePort();
    const h = await host('faults-transient', `127.0.0.1:${artifactPort}`);
    const release = await buildDemoRelease({ version: '1.0.0', outDir: join(dir, 'transient') });
    h.start();
    await assign('faults-transient', release);
    // Nothing listens where the controller should be: the install fails, and says when it retries.
    const failed = await h.waitFor((hb) => /retrying at \S+Z: /.test(demo(hb)?.error ?? ''));
    expect(demo(failed)).toMatchObject({ installPhase: 'downloading', installVersion: '1.0.0', activeVersion: null });

    const artifacts = await ArtifactServer.start(artifactPort);
    cleanups.push(() => artifacts.stop());
    artifacts.serve(release.sha256, release.bytes);
    // No new assignment, no agent restart: the retry timer alone brings it home.
    const hb = await h.waitFor(runsHealthy('demo', '1.0.0'));
    expect(demo(hb)).toMatchObject({ installPhase: 'done', error: null });
    expect((await httpGet(h.port, '/')).body).toBe('1.0.0');
  });
});

describe('an agent SIGKILLed at an install step', () => {
  // The steps where a crash leaves something to find: a cached download, a stopped old process,
  // a switched link, a new process whose pid was never saved, an unfinished record.
  const KILL_POINTS = ['download', 'stop-old', 'switch-current', 'start-new', 'persist', 'post-start'];

  it.each(KILL_POINTS.map((step, i) => [step, i] as const))(
    'after %s: the restarted agent finishes the install with exactly one app process',
    async (step, i) => {
      const hostId = `faults-kill-${i}`;
      const artifacts = await ArtifactServer.start();
      cleanups.push(() => artifacts.stop());
      const h = await host(hostId, artifacts.address);
      const out = join(dir, hostId);
      await mkdir(out, { recursive: true });
      const old = await buildDemoRelease({ version: '1.0.0', outDir: join(out, 'r') });
      const next = await buildDemoRelease({ version: '2.0.0', outDir: join(out, 'r') });
      for (const r of [old, next]) artifacts.serve(r.sha256, r.bytes);

      h.start();
      await assign(hostId, old);
      await h.waitFor(runsHealthy('demo', '1.0.0'));

      // The upgrade: the agent dies right after `step` ran, before its progress is saved.
      await h.agent?.stop();
      const killed = h.start({ FLOTILLA_FAULT_KILL_AFTER_STEP: step });
      await h.waitFor((hb) => hb.acceptedSeq === 1);
      await assign(hostId, next);
      expect((await killed.exited).signal).toBe('SIGKILL');
      const before = markedProcesses(h.dataDir);
      expect(before.length).toBeLessThanOrEqual(1);

      h.start();
      const hb = await h.waitFor((b) => runsHealthy('demo', '2.0.0')(b) && demo(b)?.installPhase === 'done');
      const pid = demo(hb)?.pid as number;
      if (step === 'start-new' || step === 'persist' || step === 'post-start') {
        // The new process was running before the agent died: it is the one adopted, not a second.
        expect(before).toEqual([pid]);
      }
      // A few heartbeats on, still that one process: no second start, no EADDRINUSE crash loop.
      const n = hb.n;
      const later = await h.waitFor((b) => b.n >= n + 3);
      expect(demo(later)).toMatchObject({ pid, restarts: 0, processState: 'running', health: 'healthy' });
      expect(markedProcesses(h.dataDir)).toEqual([pid]);
      expect((await httpGet(h.port, '/')).body).toBe('2.0.0');
      const state = JSON.parse(await readFile(join(h.dataDir, 'state.json'), 'utf8')) as {
        apps: Record<string, { process: { pid: number } | null; install?: unknown }>;
      };
      expect(state.apps.demo?.process?.pid).toBe(pid);
      expect(state.apps.demo?.install).toBeUndefined();
    },
  );
});

describe('a disk too full to save an assignment', () => {
  const root = process.getuid?.() === 0;

  it.skipIf(!root)('does not accept it until it is saved, says why, and accepts it once there is room (needs root to mount a small tmpfs)', async () => {
    const dataDir = join(dir, 'faults-full');
    await mkdir(dataDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dataDir]);
    cleanups.push(async () => {
      execFileSync('umount', ['-l', dataDir]);
    });
    const artifacts = await ArtifactServer.start();
    cleanups.push(() => artifacts.stop());
    const h = await host('faults-full', artifacts.address, dataDir);
    const old = await buildDemoRelease({ version: '1.0.0', outDir: join(dir, 'full') });
    const next = await buildDemoRelease({ version: '2.0.0', outDir: join(dir, 'full') });
    for (const r of [old, next]) artifacts.serve(r.sha256, r.bytes);
    // No free-space floor: this test fills the disk on purpose, past any download check, to see
    // what the agent does when saving its state fails.
    h.start({ FLOTILLA_MIN_FREE_SPACE: '0' });
    await assign('faults-full', old);
    await h.waitFor(runsHealthy('demo', '1.0.0'));

    // Fill the filesystem (bounded: it holds 8 MiB).
    const filler = join(dataDir, 'filler');
    const file = await open(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (let i = 0; i < 1024; i++) await file.write(chunk);
      throw new Error('the small filesystem never filled up');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      await file.close().catch(() => undefined);
    }
    // A few bytes may remain: take them too.
    await open(filler, 'a').then(async (f) => {
      for (let i = 0; i < 4096; i++) {
        try {
          await f.write(Buffer.alloc(1));
        } catch {
          break;
        }
      }
      await f.close();
    });

    await assign('faults-full', next);
    const refused = await h.waitFor((hb) => /not accepted: cannot save state/.test(demo(hb)?.error ?? ''));
    expect(refused.acceptedSeq).toBe(1);
    expect(demo(refused)).toMatchObject({ activeVersion: '1.0.0', desiredVersion: '1.0.0' });
    const saved = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as { acceptedSeq: number };
    expect(saved.acceptedSeq).toBe(1);

    // Room again: the agent tries the save again on its own (a controller would also re-send it,
    // since heartbeats still report seq 1), accepts it and converges.
    await rm(filler);
    const hb = await h.waitFor((b) => b.acceptedSeq === 2 && runsHealthy('demo', '2.0.0')(b));
    expect(demo(hb)?.error).toBeNull();
    expect((await httpGet(h.port, '/')).body).toBe('2.0.0');
  });
});
