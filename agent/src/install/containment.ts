import { lstat, readlink, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { errnoCode } from './durable.js';

/** Links followed in one resolution before it is called a loop (Linux's own limit is 40). */
const MAX_HOPS = 40;

export type Containment = 'inside' | 'outside' | 'loop';

/**
 * Where the symbolic link at `rel` (relative to `root`, which must already be a real path) ends
 * up once every link on the way is followed. A link whose target does not exist (yet) is resolved
 * as far as the disk allows and lexically from there, so a dangling link cannot hide an escape.
 */
export async function resolveContainment(root: string, rel: string): Promise<Containment> {
  try {
    const real = await realpath(join(root, rel));
    return real === root || real.startsWith(root + sep) ? 'inside' : 'outside';
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ELOOP') throw err;
  }
  return walk(root, rel);
}

async function walk(root: string, rel: string): Promise<Containment> {
  const dir: string[] = [];
  const pending = rel.split('/');
  let hops = 0;
  // Depth at which the path left what exists on disk; components below it are taken lexically,
  // and stepping back above it resumes looking at the disk (a link there is followed again).
  let missingFrom: number | null = null;
  // Each step either consumes a component or replaces one link by its target; the hop limit
  // bounds the second kind, so the loop ends.
  while (pending.length > 0) {
    const step = pending.shift() as string;
    if (step === '' || step === '.') continue;
    if (step === '..') {
      if (dir.length === 0) return 'outside';
      dir.pop();
      if (missingFrom !== null && dir.length <= missingFrom) missingFrom = null;
      continue;
    }
    if (missingFrom !== null) {
      dir.push(step);
      continue;
    }
    const here = join(root, ...dir, step);
    let isLink = false;
    try {
      isLink = (await lstat(here)).isSymbolicLink();
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      missingFrom = dir.length;
    }
    if (!isLink) {
      dir.push(step);
      continue;
    }
    hops += 1;
    if (hops > MAX_HOPS) return 'loop';
    const target = await readlink(here);
    if (target.startsWith('/')) return 'outside';
    pending.unshift(...target.split('/'));
  }
  return 'inside';
}
