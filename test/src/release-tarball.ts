import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { create as createTar } from 'tar';

/** A file of a release: its content, or a function that writes it at the path given (large or copied files). */
export type ReleaseFile = string | Uint8Array | ((path: string) => Promise<void>);

/**
 * Writes a gzip tarball at `file` holding `files` at its root, as a release author's `tar -czf`
 * would: the files are laid out in a scratch directory and archived from there. (Hostile and
 * hand-laid archives come from fixtures/tarballs.ts instead.)
 */
export async function writeReleaseTarball(file: string, files: Readonly<Record<string, ReleaseFile>>, opts: { gzipLevel?: number } = {}): Promise<void> {
  const src = await mkdtemp(join(tmpdir(), 'flotilla-release-src-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      const path = join(src, name);
      await mkdir(dirname(path), { recursive: true });
      if (typeof content === 'function') await content(path);
      else await writeFile(path, content);
    }
    await mkdir(dirname(file), { recursive: true });
    await createTar({ gzip: { level: opts.gzipLevel ?? 6 }, file, cwd: src, portable: true }, Object.keys(files));
  } finally {
    await rm(src, { recursive: true, force: true });
  }
}

/** The same tarball as bytes, written nowhere that lasts. */
export async function releaseTarballBytes(files: Readonly<Record<string, ReleaseFile>>): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-release-'));
  try {
    const file = join(dir, 'release.tar.gz');
    await writeReleaseTarball(file, files);
    return await readFile(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
