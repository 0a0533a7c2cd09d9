import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, parseManifest, type Logger } from '@flotilla/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { identityOf, isSameProcessAlive, readProcStat } from './proc.js';
import type { RestartPolicy } from './restart-policy.js';
import { AppSupervisor, type SupervisorDeps } from './supervisor.js';
import type { ProcessSnapshot, SupervisedRelease } from './types.js';

let root: string;
let releaseDir: string;
let logDir: string;
const supervisors: AppSupervisor[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-supervisor-'));
  releaseDir = join(root, 'apps', 'web', 'releases', '1.0.0');
  logDir = join(root, 'apps', 'web', 'logs');
  await mkdir(releaseDir, { recursive: true });
});

afterEach(async () => {
  // Every app a test started goes, even when the test failed half-way.
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
  await rm(root, { recursive: true, force: true });
});

/** A logger whose lines the test can read. */
function captureLogger(): { logger: Logger; messages: () => string[] } {
  const lines: string[] = [];
  const logger = createLogger({ name: 'test', level: 'debug', destination: { write: (l: string) => void lines.push(l) } });
  return { logger, messages: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

interface Harness {
  sup: AppSupervisor;
  changes: ProcessSnapshot[];
  messages: () => string[];
}

function supervise(
  manifest: Record<string, unknown>,
  options: { env?: Record<string, string>; policy?: Partial<RestartPolicy>; deps?: Partial<SupervisorDeps> } = {},
): Harness {
  const release: SupervisedRelease = {
    app: 'web',
    version: '1.0.0',
    releaseDir,
    manifest: parseManifest(JSON.stringify(manifest)),
    env: options.env ?? {},
    logDir,
  };
  const changes: ProcessSnapshot[] = [];
  const { logger, messages } = captureLogger();
  const sup = new AppSupervisor(release, {
    logger,
    onChange: (s) => changes.push(s),
    policy: { initialDelayMs: 20, maxDelayMs: 100, ...options.policy },
    settleMs: 100,
    adoptPollMs: 50,
    ...options.deps,
  });
  supervisors.push(sup);
  return { sup, changes, messages };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pid the app wrote to child.pid, once the shell has finished writing it. */
async function childPid(): Promise<number> {
  const file = join(releaseDir, 'child.pid');
  await waitFor('the app to write its child pid', () => existsSync(file) && /^\d+\n$/.test(readFileSync(file, 'utf8')));
  return Number(readFileSync(file, 'utf8').trim());
}
const node = (script: string) => [process.execPath, '-e', script];
/** The program a pid runs now (its /proc comm), or null once it is gone. */
const commOf = (pid: number): string | null => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
};
const states = (changes: ProcessSnapshot[]) => changes.map((c) => c.processState);

describe('AppSupervisor start and stop', () => {
  it('starts the app detached with its env, cwd and log file, and stops it', async () => {
    await mkdir(join(releaseDir, 'srv'));
    process.env.FLOTILLA_SUPERVISOR_TEST_LEAK = 'agent-only';
    const { sup, changes } = supervise(
      {
        start: {
          command: node(
            `const fs = require('fs'); fs.writeFileSync('seen.tmp', JSON.stringify({ env: process.env, cwd: process.cwd() })); fs.renameSync('seen.tmp', 'seen.json');
             console.log('to stdout'); console.error('to stderr'); setInterval(() => {}, 1000);`,
          ),
          cwd: 'srv',
          env: { FROM_MANIFEST: 'x' },
        },
      },
      { env: { FROM_MANIFEST: 'x', GREETING: 'hello' } },
    );
    try {
      await sup.start();
      const pid = sup.snapshot().pid;
      expect(pid).toBeGreaterThan(0);
      expect(sup.snapshot()).toMatchObject({ processState: 'starting', health: 'unknown', restarts: 0, error: null });
      await waitFor('running and healthy', () => sup.snapshot().health === 'healthy');
      expect(sup.snapshot().processState).toBe('running');

      const seenFile = join(releaseDir, 'srv', 'seen.json');
      // Renamed into place by the app, so once it exists it is complete.
      await waitFor('the app to write its env', () => existsSync(seenFile));
      const seen = JSON.parse(readFileSync(seenFile, 'utf8')) as { env: Record<string, string>; cwd: string };
      expect(seen.cwd).toBe(join(releaseDir, 'srv'));
      expect(seen.env).toMatchObject({
        GREETING: 'hello',
        FROM_MANIFEST: 'x',
        FLOTILLA_APP: 'web',
        FLOTILLA_VERSION: '1.0.0',
        FLOTILLA_RELEASE_DIR: releaseDir,
        PATH: process.env.PATH,
      });
      expect(seen.env.FLOTILLA_SUPERVISOR_TEST_LEAK).toBeUndefined();

      // Its own process group (and session), so the agent can signal everything it started.
      expect(readProcStat(pid as number)?.pgrp).toBe(pid);
      const logFile = join(logDir, 'web.log');
      await waitFor('both streams in the log', () => {
        const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
        return text.includes('to stdout') && text.includes('to stderr');
      });

      const identity = sup.identity();
      expect(identity?.pid).toBe(pid);
      await sup.stop();
      expect(sup.snapshot()).toMatchObject({ processState: 'stopped', pid: null, health: 'unknown' });
      expect(isSameProcessAlive(identity!)).toBe(false);
      expect(sup.identity()).toBeNull();
      await sup.stop(); // idempotent
      expect(states(changes)).toEqual(['starting', 'running', 'stopping', 'stopped']);
    } finally {
      delete process.env.FLOTILLA_SUPERVISOR_TEST_LEAK;
    }
  });

  it('sends the manifest stop signal to the whole process group', async () => {
    const { sup, messages } = supervise({
      start: { command: 'trap "echo got-usr2 > stopped; exit 0" USR2; sleep 300 & echo $! > child.pid; wait' },
      stop: { signal: 'SIGUSR2', timeout: '10s' },
    });
    await sup.start();
    const pid = await childPid();
    // $! is known as soon as the shell forks, before the child has become `sleep`: a signal in
    // that window reaches a shell copy about to exec, which loses it. Stop once it is sleep.
    await waitFor('the child to be running sleep', () => commOf(pid) === 'sleep');
    const childIdentity = identityOf(pid);
    expect(childIdentity).not.toBeNull();
    await sup.stop();
    expect(await readFile(join(releaseDir, 'stopped'), 'utf8')).toBe('got-usr2\n');
    // The orphaned child got the signal too; it is gone once init has reaped it.
    await waitFor('the child in the group to be gone', () => !isSameProcessAlive(childIdentity!));
    expect(messages()).not.toContain('app did not stop in time; killing its process group');
  });

  it('kills the process group with SIGKILL when the app ignores the stop signal', async () => {
    const { sup, changes, messages } = supervise({
      start: { command: 'trap "" TERM; sleep 300 & echo $! > child.pid; wait' },
      stop: { timeout: '300ms' },
    });
    await sup.start();
    const leader = sup.identity()!;
    const child = identityOf(await childPid())!;
    expect(child).not.toBeNull();
    await sup.stop();
    expect(messages()).toContain('app did not stop in time; killing its process group');
    expect(isSameProcessAlive(leader)).toBe(false);
    await waitFor('the child in the group to be gone', () => !isSameProcessAlive(child));
    expect(states(changes).slice(-2)).toEqual(['stopping', 'stopped']);
  });

  it('reports a start command that does not exist as exited, without throwing', async () => {
    const { sup, changes } = supervise({ start: { command: ['/nonexistent/flotilla-app', '--serve'] } });
    await expect(sup.start()).resolves.toBeUndefined();
    expect(sup.snapshot()).toMatchObject({ processState: 'exited', pid: null, restarts: 0 });
    expect(sup.snapshot().error).toBe('start command not found: /nonexistent/flotilla-app --serve');
    expect(changes.at(-1)?.processState).toBe('exited');
  });

  it('reports a missing working directory as exited', async () => {
    const { sup } = supervise({ start: { command: 'true', cwd: 'nowhere' } });
    await sup.start();
    expect(sup.snapshot().processState).toBe('exited');
    expect(sup.snapshot().error).toMatch(/^working directory does not exist: .*nowhere$/);
  });
});

describe('AppSupervisor restarts', () => {
  it('restarts an app that crashed, after a back-off', async () => {
    // A settle time far above how long the failing run lives, even on a loaded machine: the
    // crashed run must never have counted as running.
    const { sup, changes } = supervise(
      { start: { command: 'if [ -f crashed ]; then exec sleep 300; fi; touch crashed; exit 3' } },
      { deps: { settleMs: 2000 } },
    );
    await sup.start();
    const firstPid = sup.snapshot().pid;
    await waitFor('the restarted app to run', () => sup.snapshot().restarts === 1 && sup.snapshot().health === 'healthy');
    const backoff = changes.find((c) => c.processState === 'backoff');
    expect(backoff).toMatchObject({ pid: null, health: 'unhealthy', error: 'app exited with code 3', restarts: 0 });
    expect(backoff?.lastExit).toMatchObject({ code: 3, signal: null });
    const now = sup.snapshot();
    expect(now).toMatchObject({ processState: 'running', error: null, restarts: 1 });
    expect(now.pid).not.toBe(firstPid);
    expect(states(changes)).toEqual(['starting', 'backoff', 'starting', 'running']);
  });

  it('reports a crash loop, keeps retrying, and recovers once a run lasts', async () => {
    // Fails four times, then stays up.
    const { sup, changes } = supervise(
      { start: { command: 'n=$(cat runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > runs; [ $n -gt 4 ] && exec sleep 300; exit 1' } },
      { policy: { crashLoopThreshold: 3, crashLoopWindowMs: 60_000, resetAfterMs: 400 }, deps: { settleMs: 2000 } },
    );
    await sup.start();
    await waitFor('recovery from the crash loop', () => sup.snapshot().processState === 'running' && sup.snapshot().restarts === 4 && sup.snapshot().health === 'healthy');
    const seen = states(changes);
    const firstLoop = seen.indexOf('crash-loop');
    expect(seen.slice(0, firstLoop)).toEqual(['starting', 'backoff', 'starting', 'backoff', 'starting', 'backoff', 'starting']);
    // Sticky: the restarted process keeps reporting the loop until it has run resetAfterMs.
    const after = seen.slice(firstLoop);
    const recovered = after.indexOf('running');
    expect(recovered).toBeGreaterThan(0);
    expect(after.slice(0, recovered).every((s) => s === 'crash-loop')).toBe(true);
    expect(after.slice(recovered).every((s) => s === 'running')).toBe(true);
    expect(changes.slice(firstLoop).some((c) => c.pid !== null)).toBe(true);
    expect(changes[firstLoop]?.error).toMatch(/^app exited with code 1; crash loop: 4 exits within 60000 ms/);
    expect(sup.snapshot()).toMatchObject({ processState: 'running', error: null, health: 'healthy' });
  });

  it('retries a crash-looping app at the maximum delay until stopped', async () => {
    const { sup, changes } = supervise(
      { start: { command: 'exit 1' } },
      { policy: { initialDelayMs: 5, maxDelayMs: 30, crashLoopThreshold: 2, resetAfterMs: 60_000 } },
    );
    await sup.start();
    await waitFor('several restarts in the crash loop', () => sup.snapshot().restarts >= 6);
    expect(sup.snapshot().processState).toBe('crash-loop');
    await sup.stop();
    expect(sup.snapshot()).toMatchObject({ processState: 'stopped', pid: null, error: null });
    const restarts = sup.snapshot().restarts;
    await sleep(150);
    expect(sup.snapshot()).toMatchObject({ processState: 'stopped', restarts });
    expect(changes.length).toBeGreaterThan(6);
  });

  it('cancels a pending restart when stopped during the back-off', async () => {
    const { sup } = supervise({ start: { command: 'exit 2' } }, { policy: { initialDelayMs: 200, maxDelayMs: 200 } });
    await sup.start();
    await waitFor('the back-off', () => sup.snapshot().processState === 'backoff');
    await sup.stop();
    expect(sup.snapshot()).toMatchObject({ processState: 'stopped', pid: null });
    await sleep(400);
    expect(sup.snapshot()).toMatchObject({ processState: 'stopped', pid: null, restarts: 0 });
  });
});

describe('AppSupervisor command health check', () => {
  it('follows the thresholds: healthy after 2 successes, unhealthy after 3 failures, healthy again', async () => {
    // Probe n fails for n in 1, 2, 6, 7, 8, 9 and succeeds otherwise.
    const probe =
      'n=$(cat probes 2>/dev/null || echo 0); n=$((n+1)); echo $n > probes; case $n in 1|2|6|7|8|9) echo "probe $n failed"; exit 1;; esac';
    const probes = () => Number(readFileSync(join(releaseDir, 'probes'), 'utf8').trim());
    const transitions: Array<[string, number]> = [];
    const { sup, changes } = supervise(
      {
        start: { command: 'exec sleep 300' },
        health: { command: probe, interval: '20ms', timeout: '5s', failureThreshold: 3, successThreshold: 2 },
      },
      {
        deps: {
          onChange: (s) => {
            changes.push(s);
            if (transitions.at(-1)?.[0] !== s.health && s.health !== 'unknown') transitions.push([s.health, probes()]);
          },
        },
      },
    );
    await sup.start();
    expect(sup.snapshot()).toMatchObject({ processState: 'starting', health: 'unknown' });
    await waitFor('the third health decision', () => transitions.length >= 3);
    expect(transitions).toEqual([
      ['healthy', 4],
      ['unhealthy', 8],
      ['healthy', 11],
    ]);
    const unhealthy = changes.find((c) => c.health === 'unhealthy');
    expect(unhealthy?.processState).toBe('running');
    expect(unhealthy?.error).toMatch(/health command .* exited with code 1: probe 8 failed$/);
    expect(sup.snapshot().error).toBeNull();

    // No checks while the app is not running.
    await sup.stop();
    const after = probes();
    await sleep(150);
    expect(probes()).toBe(after);
  });

  it('keeps the app starting while failures fall in the start period', async () => {
    const { sup } = supervise({
      start: { command: 'exec sleep 300' },
      health: { command: 'echo >> probes; exit 1', interval: '20ms', startPeriod: '1h', failureThreshold: 1 },
    });
    await sup.start();
    await waitFor('a few probes', () => {
      const f = join(releaseDir, 'probes');
      return existsSync(f) && readFileSync(f, 'utf8').length >= 5;
    });
    expect(sup.snapshot()).toMatchObject({ processState: 'starting', health: 'unknown' });
  });
});

describe('AppSupervisor adopt', () => {
  it('adopts the app a detached supervisor left running, and restarts it when it later dies', async () => {
    const first = supervise({ start: { command: ['sleep', '300'] } });
    await first.sup.start();
    await waitFor('the first supervisor to see it healthy', () => first.sup.snapshot().health === 'healthy');
    const id = first.sup.identity()!;
    expect(id.pid).toBe(first.sup.snapshot().pid);

    // The agent goes away (detach) and a new agent process takes over.
    first.sup.detach();
    const changesAtDetach = first.changes.length;
    expect(isSameProcessAlive(id)).toBe(true);

    const stranger = supervise({ start: { command: ['sleep', '300'] } });
    expect(stranger.sup.adopt({ pid: id.pid, startTime: `${id.startTime}0` })).toBe(false);
    expect(stranger.sup.adopt({ pid: 2 ** 22 + 1, startTime: id.startTime })).toBe(false);
    expect(stranger.sup.snapshot().processState).toBe('stopped');

    const second = supervise({ start: { command: ['sleep', '300'] } });
    expect(second.sup.adopt(id, { restarts: 2 })).toBe(true);
    expect(second.sup.snapshot()).toMatchObject({ processState: 'running', pid: id.pid, restarts: 2 });
    expect(second.sup.identity()).toEqual(id);
    await waitFor('the adopted app to count as healthy', () => second.sup.snapshot().health === 'healthy');

    // The app dies behind the agent's back: the poll notices and the app is restarted.
    process.kill(id.pid, 'SIGKILL');
    await waitFor('the adopted app to be restarted', () => second.sup.snapshot().restarts === 3 && second.sup.snapshot().pid !== null);
    const died = second.changes.find((c) => c.processState === 'backoff');
    expect(died?.lastExit).toMatchObject({ code: null, signal: null });
    expect(died?.error).toMatch(/status unknown/);
    expect(second.sup.snapshot().pid).not.toBe(id.pid);
    expect(first.changes.length).toBe(changesAtDetach);

    const newId = second.sup.identity()!;
    await second.sup.stop();
    expect(isSameProcessAlive(newId)).toBe(false);
  });

  it('stops an adopted app through its process group', async () => {
    const first = supervise({ start: { command: 'sleep 300 & echo $! > child.pid; wait' } });
    await first.sup.start();
    const child = identityOf(await childPid())!;
    const id = first.sup.identity()!;
    first.sup.detach();

    const second = supervise({ start: { command: 'sleep 300' } });
    expect(second.sup.adopt(id)).toBe(true);
    await second.sup.stop();
    expect(second.sup.snapshot()).toMatchObject({ processState: 'stopped', pid: null });
    expect(isSameProcessAlive(id)).toBe(false);
    await waitFor('the child in the group to be gone', () => !isSameProcessAlive(child));
  });
});
