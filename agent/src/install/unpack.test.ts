import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createLogger, ManifestError, parseManifest, UnsafeArchiveError, type FlotillaError } from '@flotilla/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildAppTarball,
  buildGzipBomb,
  buildTar,
  buildTarball,
  hostileTarballs,
  MINIMAL_MANIFEST,
  padding,
  TAR_END,
  tarEntryBlocks,
  tarHeader,
  type TarEntry,
} from '../../../test/src/fixtures/tarballs.js';
import { readReleaseMarker } from './marker.js';
import { cleanStaging } from './staging.js';
import { unpackRelease, type UnpackOptions } from './unpack.js';

const logger = createLogger({ name: 'unpack-test', level: 'silent' });

let root: string;
let releasesDir: string;
let outsideDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-unpack-'));
  releasesDir = join(root, 'releases');
  outsideDir = join(root, 'outside');
  await mkdir(outsideDir);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function tarballFile(bytes: Buffer, name = 'release.tar.gz'): Promise<string> {
  const path = join(root, name);
  await writeFile(path, bytes);
  return path;
}

async function unpack(bytes: Buffer, extra: Partial<UnpackOptions> = {}) {
  return unpackRelease({ tarball: await tarballFile(bytes), releasesDir, version: '1.0.0', logger, ...extra });
}

async function refusal(bytes: Buffer, extra: Partial<UnpackOptions> = {}): Promise<FlotillaError> {
  const err = await unpack(bytes, extra).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error('the archive was unpacked');
  return err as FlotillaError;
}

/** Every path under the temp root, relative to it. */
async function tree(dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    out.push(relative(root, path));
    const st = await lstat(path);
    if (st.isDirectory()) out.push(...(await tree(path)));
  }
  return out.sort();
}

describe('unpackRelease: hostile archives', () => {
  for (const hostile of hostileTarballs()) {
    it(`refuses ${hostile.name} (${hostile.description}) and leaves nothing behind`, async () => {
      const err = await refusal(hostileTarballs({ outsideDir })
        .find((h) => h.name === hostile.name)!
        .build());
      if (hostile.rule === 'manifest-missing') {
        expect(err).toBeInstanceOf(ManifestError);
      } else {
        expect(err).toBeInstanceOf(UnsafeArchiveError);
        expect(err.message).toContain(hostile.rule);
      }
      expect(err.details.rule).toBe(hostile.rule);
      // Nothing was written anywhere: not in releases/, not outside it, not in outside/.
      expect(await tree()).toEqual(['outside', 'release.tar.gz', 'releases']);
    });
  }

  // A case-folding data directory (ext4 casefold) takes `ß`, `SS` and `ss` for one name: a link
  // under one spelling must stop writes under every other, or mkdir follows it.
  for (const [link, through] of [
    ['ß', 'ss/x'],
    ['ß', 'SS/x'],
    ['ẞ', 'ss/x'],
    ['SS', 'ß/x'],
    ['Stra\u00dfe', 'STRASSE/x'],
  ] as const) {
    it(`refuses ${through} after a link ${link}, under any case folding, and writes nothing`, async () => {
      const err = await refusal(
        buildTarball([
          { path: 'flotilla.json', content: JSON.stringify(MINIMAL_MANIFEST) },
          { path: 'sub/', type: 'directory' },
          { path: link, type: 'symlink', linkpath: 'sub' },
          { path: through, content: 'written through the link\n' },
        ]),
      );
      expect(err).toBeInstanceOf(UnsafeArchiveError);
      expect(err.details.rule).toBe('through-symlink');
      expect(err.details.entry).toBe(through);
      expect(await tree()).toEqual(['outside', 'release.tar.gz', 'releases']);
    });
  }

  it('names the entry and the rule in the message', async () => {
    const err = await refusal(buildAppTarball({ files: [{ path: '../escape', content: 'x' }] }));
    expect(err.message).toMatch(/entry "\.\.\/escape" breaks rule dotdot-path/);
    expect(err.details.entry).toBe('../escape');
  });

  it('stops a gzip bomb at its header, long before its bytes', async () => {
    const bomb = buildGzipBomb({ size: 16 * 1024 ** 3 });
    expect(bomb.length).toBeLessThan(32 * 1024 * 1024);
    const err = await refusal(bomb);
    expect(err.details.rule).toBe('max-bytes');
    expect(err.details.entry).toBe('zeros.bin');
    expect(await tree()).toEqual(['outside', 'release.tar.gz', 'releases']);
  });

  it('refuses bytes that no header accounts for (an oversized metadata record)', async () => {
    const junk = 8 * 1024 * 1024;
    const tar = Buffer.concat([
      ...tarEntryBlocks({ path: 'flotilla.json', content: JSON.stringify(MINIMAL_MANIFEST) }),
      tarHeader({ path: 'PaxHeader' }, junk, 'x'),
      Buffer.alloc(junk + padding(junk)),
      ...tarEntryBlocks({ path: 'server.js', content: 'x' }),
      TAR_END,
    ]);
    const err = await refusal(gzipSync(tar));
    expect(err.details.rule).toBe('max-inflated-bytes');
  });

  it('enforces configured caps on entries, depth and path length', async () => {
    const many = buildAppTarball({ files: Array.from({ length: 10 }, (_, i) => ({ path: `f${i}`, content: 'x' })) });
    expect((await refusal(many, { limits: { maxEntries: 5 } })).details.rule).toBe('max-entries');
    const deep = buildAppTarball({ files: [{ path: 'a/b/c/d/e/f', content: 'x' }] });
    expect((await refusal(deep, { limits: { maxDepth: 4 } })).details.rule).toBe('max-depth');
    const long = buildAppTarball({ files: [{ path: `${'d'.repeat(200)}/${'f'.repeat(200)}`, content: 'x' }] });
    expect((await refusal(long, { limits: { maxPathLength: 300 } })).details.rule).toBe('max-path-length');
    const big = buildAppTarball({ files: [{ path: 'big', content: Buffer.alloc(5000) }] });
    expect((await refusal(big, { limits: { maxBytes: 4096 } })).details.rule).toBe('max-bytes');
    expect(await tree()).toEqual(['outside', 'release.tar.gz', 'releases']);
  });

  it('refuses a truncated archive and one that is not gzip', async () => {
    const whole = buildAppTarball({ files: [{ path: 'data.bin', content: Buffer.alloc(200_000, 7) }] });
    const truncated = await refusal(whole.subarray(0, Math.floor(whole.length / 2)));
    expect(truncated).toBeInstanceOf(UnsafeArchiveError);
    expect(truncated.details.rule).toBe('malformed-archive');
    const plain = await refusal(buildTar([{ path: 'flotilla.json', content: '{}' }]));
    expect(plain.details.rule).toBe('malformed-archive');
    const lying = await refusal(
      buildTarball([
        { path: 'flotilla.json', content: JSON.stringify(MINIMAL_MANIFEST) },
        { path: 'short', content: 'abc', declaredSize: 100_000 },
      ]),
    );
    expect(lying.details.rule).toBe('malformed-archive');
    expect(await tree()).toEqual(['outside', 'release.tar.gz', 'releases']);
  });

  it('refuses a flotilla.json that is a link or sits below the root', async () => {
    const linked = await refusal(
      buildTarball([
        { path: 'real.json', content: JSON.stringify(MINIMAL_MANIFEST) },
        { path: 'flotilla.json', type: 'symlink', linkpath: 'real.json' },
      ]),
    );
    expect(linked).toBeInstanceOf(ManifestError);
    const nested = await refusal(buildTarball([{ path: 'app/flotilla.json', content: JSON.stringify(MINIMAL_MANIFEST) }]));
    expect(nested).toBeInstanceOf(ManifestError);
  });

  it('refuses to unpack over a release that is already there', async () => {
    await unpack(buildAppTarball());
    const err = await refusal(buildAppTarball());
    expect(err.code).toBe('FLOTILLA_ERR_CONFLICT');
  });

  it('honours an AbortSignal', async () => {
    const ac = new AbortController();
    ac.abort(new Error('assignment changed'));
    await expect(unpack(buildAppTarball(), { signal: ac.signal })).rejects.toThrow('assignment changed');
    expect(await readdir(releasesDir).catch(() => [])).toEqual([]);
  });
});

describe('unpackRelease: well-formed archives', () => {
  const files: TarEntry[] = [
    { path: 'server.js', content: 'console.log("v1")\n', mode: 0o755 },
    { path: 'secret.txt', content: 'shh\n', mode: 0o600 },
    { path: 'node_modules/pkg/bin.js', content: '#!/usr/bin/env node\n', mode: 0o755 },
    { path: 'node_modules/.bin/x', type: 'symlink', linkpath: '../pkg/bin.js' },
    { path: 'lib/libfoo.so.1.2', content: 'ELF', mode: 0o755 },
    { path: 'lib/libfoo.so.1', type: 'symlink', linkpath: 'libfoo.so.1.2' },
    { path: 'lib/libfoo.so', type: 'symlink', linkpath: 'libfoo.so.1' },
    { path: 'lib64', type: 'symlink', linkpath: 'lib' },
    { path: 'bin/', type: 'directory', mode: 0o500 },
    { path: 'bin/foo', type: 'symlink', linkpath: '../lib64/libfoo.so' },
    { path: 'server-copy.js', type: 'hardlink', linkpath: 'server.js' },
    { path: 'logs', type: 'symlink', linkpath: 'var/log' },
    { path: 'self', type: 'symlink', linkpath: '.' },
    { path: `${'deep/'.repeat(30)}leaf.txt`, content: 'deep\n' },
    { path: `long/${'n'.repeat(200)}/${'m'.repeat(200)}.txt`, content: 'pax\n' },
  ];

  it('unpacks links, hard links and modes, and returns the manifest', async () => {
    const marker = { app: 'web', version: '1.0.0', sha256: 'a'.repeat(64), unpackedAtMs: 1234 };
    const result = await unpack(buildAppTarball({ prefix: './', files }), { marker });
    const dir = join(releasesDir, '1.0.0');
    expect(result.dir).toBe(dir);
    expect(result.entries).toBe(files.length + 1);
    expect(() => parseManifest(result.manifestText)).not.toThrow();

    expect(await readFile(join(dir, 'node_modules/.bin/x'), 'utf8')).toBe('#!/usr/bin/env node\n');
    expect(await readlink(join(dir, 'node_modules/.bin/x'))).toBe('../pkg/bin.js');
    expect(await readFile(join(dir, 'bin/foo'), 'utf8')).toBe('ELF');
    expect(await readFile(join(dir, 'lib/libfoo.so'), 'utf8')).toBe('ELF');
    expect((await stat(join(dir, 'server-copy.js'))).ino).toBe((await stat(join(dir, 'server.js'))).ino);
    expect(await readlink(join(dir, 'logs'))).toBe('var/log');

    expect((await stat(join(dir, 'server.js'))).mode & 0o111).not.toBe(0);
    expect((await stat(join(dir, 'node_modules/pkg/bin.js'))).mode & 0o100).toBe(0o100);
    expect((await stat(join(dir, 'secret.txt'))).mode & 0o077).toBe(0);
    // A directory always gets u+rwx, so the agent can prune the release later.
    expect((await stat(join(dir, 'bin'))).mode & 0o700).toBe(0o700);
    expect((await stat(dir)).mode & 0o777).toBe(0o755);

    expect(await readReleaseMarker(dir)).toEqual(marker);
    expect(await readdir(releasesDir)).toEqual(['1.0.0']);
  });

  it('never applies the archive owners', async () => {
    const result = await unpack(buildAppTarball({ files: [{ path: 'owned', content: 'x', uid: 4242, gid: 4343 }] }));
    const st = await stat(join(result.dir, 'owned'));
    expect(st.uid).toBe(process.getuid?.());
    expect(st.gid).toBe(process.getgid?.());
  });

  it('unpacks a release without a root directory entry or leading ./', async () => {
    const result = await unpack(buildAppTarball({ files: [{ path: 'a/b/c.txt', content: 'c' }] }));
    expect(await readFile(join(result.dir, 'a/b/c.txt'), 'utf8')).toBe('c');
    expect(result.bytes).toBeGreaterThan(0);
  });

  it('ignores what the gzip holds after the end of the archive', async () => {
    const tar = buildTar([
      { path: 'flotilla.json', content: JSON.stringify(MINIMAL_MANIFEST) },
      { path: 'a.txt', content: 'a' },
    ]);
    const result = await unpack(gzipSync(Buffer.concat([tar, Buffer.alloc(32 * 1024 * 1024)])));
    expect(await readFile(join(result.dir, 'a.txt'), 'utf8')).toBe('a');
  });
});

describe('cleanStaging', () => {
  it('removes leftover staging directories and nothing else', async () => {
    await mkdir(join(releasesDir, '.staging-abc123', 'deep'), { recursive: true });
    await writeFile(join(releasesDir, '.staging-abc123', 'deep', 'f'), 'x');
    await mkdir(join(releasesDir, '1.0.0'));
    expect(await cleanStaging(releasesDir)).toEqual(['.staging-abc123']);
    expect(await readdir(releasesDir)).toEqual(['1.0.0']);
    expect(await cleanStaging(join(root, 'missing'))).toEqual([]);
  });
});
