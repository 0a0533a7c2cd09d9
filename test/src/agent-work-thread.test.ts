// The agent's work thread: downloads, unpacks and the inventory run there, and what comes back
// across the thread boundary is what the agent's main thread decides by (results, error classes,
// aborts). Runs the built thread program from agent/dist.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicInventory, isAbort, WorkThread } from '@flotilla/agent';
import { createLogger, InternalError, UnavailableError, UnsafeArchiveError } from '@flotilla/shared';
import { deadlineMs } from './deadline.js';
import { buildAppTarball, hostileTarballs } from './fixtures/tarballs.js';

const logger = createLogger({ name: 'work-thread-test', level: 'silent' });
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-work-thread-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function thread(idleMs = 60_000): WorkThread {
  return new WorkThread({ log: { level: 'silent' }, logger, idleMs });
}

async function until(what: string, check: () => boolean, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs(limitMs);
  while (Date.now() < deadline) {
    if (check()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('the agent work thread', () => {
  it('collects the inventory, then ends once idle and starts again for the next task', async () => {
    const work = thread(200);
    try {
      expect(work.running).toBe(false);
      const inv = await work.inventory();
      const basic = basicInventory();
      expect(inv).toMatchObject({ arch: basic.arch, kernel: basic.kernel, agentVersion: basic.agentVersion });
      expect(inv.cpus).toBeGreaterThan(0);
      expect(inv.os).not.toBe('');
      await until('the idle thread to end', () => !work.running);
      expect((await work.inventory()).hostname).toBe(inv.hostname);
    } finally {
      await work.close();
    }
    expect(work.running).toBe(false);
  });

  it('unpacks a release, and refuses a hostile one with the unpacker\'s own error class', async () => {
    const work = thread();
    try {
      const good = join(dir, 'good.tar.gz');
      await writeFile(good, buildAppTarball({ files: [{ path: 'bin/run.sh', content: '#!/bin/sh\n', mode: 0o755 }] }));
      const releasesDir = join(dir, 'releases');
      const result = await work.unpack({ tarball: good, releasesDir, version: '1.0.0' });
      expect(result.dir).toBe(join(releasesDir, '1.0.0'));
      expect((await readdir(result.dir)).sort()).toEqual(['bin', 'flotilla.json']);

      const hostile = hostileTarballs().find((t) => t.rule === 'dotdot-path');
      if (!hostile) throw new Error('the fixtures have no path-escape tarball');
      const bad = join(dir, 'bad.tar.gz');
      await writeFile(bad, hostile.build());
      const refused = await work.unpack({ tarball: bad, releasesDir, version: '2.0.0' }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(UnsafeArchiveError);
      expect((refused as UnsafeArchiveError).details).toMatchObject({ rule: 'dotdot-path' });
      // Nothing of the refused release, and no staging left behind.
      expect(await readdir(releasesDir)).toEqual(['1.0.0']);
    } finally {
      await work.close();
    }
  });

  it('reports an unreachable controller as unavailable (retried by the agent), and an abort as an abort', async () => {
    const work = thread();
    try {
      const task = {
        controller: '127.0.0.1:1',
        sha256: 'a'.repeat(64),
        size: 10,
        cacheDir: join(dir, 'cache'),
      };
      const unreachable = await work.download({ ...task, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(unreachable).toBeInstanceOf(UnavailableError);

      const controller = new AbortController();
      const pending = work.download({ ...task, retry: { attempts: 50, baseDelayMs: 60_000, maxDelayMs: 60_000 } }, controller.signal);
      await sleep(300);
      controller.abort(new Error('install called off'));
      const aborted = await pending.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isAbort(aborted)).toBe(true);
    } finally {
      await work.close();
    }
  });

  it('fails what is still running when it is closed, and refuses new work after', async () => {
    const work = thread();
    const pending = work.download({
      controller: '127.0.0.1:1',
      sha256: 'b'.repeat(64),
      size: 10,
      cacheDir: join(dir, 'cache-closed'),
      retry: { attempts: 50, baseDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    await sleep(300);
    await work.close();
    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    await expect(work.inventory()).rejects.toBeInstanceOf(InternalError);
  });
});
