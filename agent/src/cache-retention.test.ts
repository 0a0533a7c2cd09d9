import { describe, expect, it } from 'vitest';
import { cacheArtifactsToRemove, type CachedArtifact } from './cache-retention.js';

const sha = (n: number) => n.toString(16).padStart(64, '0');
const artifact = (n: number, bytes = 100): CachedArtifact => ({ sha256: sha(n), bytes, mtimeMs: n * 1000 });

describe('download cache retention', () => {
  it('keeps the newest tarballs up to the count and removes the rest', () => {
    const entries = [1, 2, 3, 4, 5].map((n) => artifact(n));
    expect(cacheArtifactsToRemove(entries, { keep: 3, maxBytes: 10_000 }, new Set())).toEqual([sha(2), sha(1)]);
  });

  it('keeps no more bytes than allowed, newest first', () => {
    const entries = [artifact(1, 400), artifact(2, 400), artifact(3, 400)];
    expect(cacheArtifactsToRemove(entries, { keep: 10, maxBytes: 900 }, new Set()).sort()).toEqual([sha(1)]);
  });

  it('never removes a protected tarball, however old or large, and counts it against the budget', () => {
    const entries = [artifact(1, 5000), artifact(2), artifact(3), artifact(4)];
    const remove = cacheArtifactsToRemove(entries, { keep: 2, maxBytes: 1000 }, new Set([sha(1)]));
    expect(remove).not.toContain(sha(1));
    // The protected one fills the count and more than the bytes: every other tarball goes.
    expect(remove.sort()).toEqual([sha(2), sha(3), sha(4)]);
  });

  it('keep 0 leaves only what is protected', () => {
    const entries = [artifact(1), artifact(2)];
    expect(cacheArtifactsToRemove(entries, { keep: 0, maxBytes: 10_000 }, new Set([sha(2)]))).toEqual([sha(1)]);
  });
});
