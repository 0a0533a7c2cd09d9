import { lstat, mkdir, mkdtemp, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeReleaseMarker } from './marker.js';
import { ReleaseStore } from './releases.js';

const logger = createLogger({ name: 'releases-test', level: 'silent' });
const SHA = 'b'.repeat(64);

let dataDir: string;
let store: ReleaseStore;

beforeEach(async () => {
  dataDir = join(await mkdtemp(join(tmpdir(), 'flotilla-releases-')), 'data');
  store = new ReleaseStore({ dataDir, logger });
  await store.ensureLayout();
  await store.ensureApp('web');
});

afterEach(async () => {
  await rm(join(dataDir, '..'), { recursive: true, force: true });
});

/** A release directory as unpackRelease leaves it. */
async function addRelease(version: string, unpackedAtMs: number, sha256 = SHA): Promise<void> {
  const dir = store.releaseDir('web', version);
  await mkdir(dir);
  await writeReleaseMarker(dir, { app: 'web', version, sha256, unpackedAtMs });
}

describe('ReleaseStore', () => {
  it('lays out the data directory as the contract says', async () => {
    expect(store.appDir('web')).toBe(join(dataDir, 'apps', 'web'));
    expect(store.releaseDir('web', '1.0.0')).toBe(join(dataDir, 'apps', 'web', 'releases', '1.0.0'));
    expect(store.currentLink('web')).toBe(join(dataDir, 'apps', 'web', 'current'));
    expect(store.logFile('web')).toBe(join(dataDir, 'apps', 'web', 'logs', 'web.log'));
    expect((await stat(store.cacheDir)).mode & 0o777).toBe(0o700);
    expect((await stat(store.releasesDir('web'))).isDirectory()).toBe(true);
    expect((await stat(store.logDir('web'))).isDirectory()).toBe(true);
    expect(await store.listApps()).toEqual(['web']);
    expect(() => store.releaseDir('web', '../evil')).toThrow(/version/);
    expect(() => store.appDir('../evil')).toThrow(/app name/);
  });

  it('knows a release by its marker', async () => {
    await addRelease('1.0.0', 1);
    expect(await store.hasRelease('web', '1.0.0', SHA)).toBe(true);
    expect(await store.hasRelease('web', '1.0.0', 'c'.repeat(64))).toBe(false);
    expect(await store.hasRelease('web', '2.0.0', SHA)).toBe(false);
    await mkdir(store.releaseDir('web', '3.0.0'));
    expect(await store.readMarker('web', '3.0.0')).toBeNull();
    expect(await store.hasRelease('web', '3.0.0', SHA)).toBe(false);
  });

  it('switches current with a relative link and reports the previous version', async () => {
    await addRelease('1.0.0', 1);
    await addRelease('2.0.0', 2);
    expect(await store.currentVersion('web')).toBeNull();
    expect(await store.activate('web', '1.0.0')).toEqual({ previous: null });
    expect(await readlink(store.currentLink('web'))).toBe('releases/1.0.0');
    expect(await store.activate('web', '2.0.0')).toEqual({ previous: '1.0.0' });
    expect(await store.currentVersion('web')).toBe('2.0.0');
    expect((await stat(join(store.currentLink('web'), '.flotilla-release.json'))).isFile()).toBe(true);
    expect((await readdir(store.appDir('web'))).sort()).toEqual(['current', 'logs', 'releases']);
    await expect(store.activate('web', '9.9.9')).rejects.toThrow(/not unpacked/);
    expect(await store.currentVersion('web')).toBe('2.0.0');
  });

  it('never leaves a moment without current while switching', async () => {
    await addRelease('1.0.0', 1);
    await addRelease('2.0.0', 2);
    await store.activate('web', '1.0.0');
    let switching = true;
    let reads = 0;
    let missing = 0;
    const reader = (async () => {
      while (switching && reads < 100_000) {
        reads += 1;
        try {
          await lstat(store.currentLink('web'));
        } catch {
          missing += 1;
        }
      }
    })();
    for (let i = 0; i < 100; i++) await store.activate('web', i % 2 === 0 ? '2.0.0' : '1.0.0');
    switching = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(missing).toBe(0);
  });

  it('prunes the oldest releases but never current or a protected one', async () => {
    for (let i = 1; i <= 6; i++) await addRelease(`${i}.0.0`, i * 1000);
    await mkdir(join(store.releasesDir('web'), '.staging-leftover'));
    await store.activate('web', '2.0.0');
    const removed = await store.prune('web', { keep: 3, protect: ['3.0.0'] });
    expect(removed).toEqual(['1.0.0', '4.0.0', '5.0.0']);
    expect((await store.listReleases('web')).map((r) => r.version)).toEqual(['2.0.0', '3.0.0', '6.0.0']);
    expect(await store.prune('web', { keep: 3, protect: ['3.0.0'] })).toEqual([]);
    // Current and protected stay even when they alone are more than `keep`.
    expect(await store.prune('web', { keep: 1, protect: ['3.0.0'] })).toEqual(['6.0.0']);
    expect(await store.currentVersion('web')).toBe('2.0.0');
  });

  it('lists releases oldest first and removes one that is not current', async () => {
    await addRelease('b', 2000);
    await addRelease('a', 1000);
    await store.activate('web', 'a');
    expect((await store.listReleases('web')).map((r) => [r.version, r.unpackedAtMs])).toEqual([
      ['a', 1000],
      ['b', 2000],
    ]);
    await expect(store.removeRelease('web', 'a')).rejects.toThrow(/current/);
    await store.removeRelease('web', 'b');
    await store.removeRelease('web', 'never-there');
    expect((await readdir(store.releasesDir('web'))).sort()).toEqual(['a']);
  });
});
