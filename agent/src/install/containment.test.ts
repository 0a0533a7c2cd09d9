import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveContainment } from './containment.js';

let root: string;

beforeEach(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'flotilla-contain-')));
  await mkdir(join(root, 'release', 'sub'), { recursive: true });
  await writeFile(join(root, 'release', 'sub', 'f'), 'x');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const release = () => join(root, 'release');
const link = (target: string, at: string) => symlink(target, join(release(), at));

describe('resolveContainment', () => {
  it('follows links that stay inside, existing or not', async () => {
    await link('sub/f', 'a');
    await link('sub', 'b');
    await link('b/f', 'c');
    await link('not/there/yet', 'd');
    await link('.', 'self');
    for (const l of ['a', 'b', 'c', 'd', 'self']) expect(await resolveContainment(release(), l)).toBe('inside');
  });

  it('catches chains that only leave the release once followed', async () => {
    await link('.', 'b');
    await link('b/../x', 'a');
    expect(await resolveContainment(release(), 'a')).toBe('outside');
    await link('sub/../..', 'up');
    expect(await resolveContainment(release(), 'up')).toBe('outside');
  });

  it('keeps following links met after a missing directory is left again', async () => {
    await link('.', 'b');
    await link('missing/../b/../x', 'sneaky');
    expect(await resolveContainment(release(), 'sneaky')).toBe('outside');
  });

  it('reports loops and absolute targets reached through a chain', async () => {
    await link('loop2', 'loop1');
    await link('loop1', 'loop2');
    expect(await resolveContainment(release(), 'loop1')).toBe('loop');
    await link('/etc', 'abs');
    await link('abs', 'via');
    expect(await resolveContainment(release(), 'via')).toBe('outside');
  });
});
