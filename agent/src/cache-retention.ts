import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAssignment, type Assignment, type Logger } from '@flotilla/shared';
import type { LocalState } from './state.js';
import type { ReleaseMarker } from './install/types.js';

// The download cache (<dataDir>/cache/<sha256>.tar.gz) only speeds up a reinstall: a release that
// is unpacked and verified runs from its release directory, and a rollback reuses that directory.
// So the cache keeps the newest downloads up to a count and a size, and never the tarballs of the
// releases a host may have to fall back on (active, previous and stable of every app) or of the
// download it has just finished.

/** How much of the download cache to keep. */
export interface CacheRetention {
  /** Tarballs kept at most, newest first (the protected ones count too). @default 3 */
  readonly keep: number;
  /** Bytes the kept tarballs may take in all (the protected ones count too). @default 2 GiB */
  readonly maxBytes: number;
}

export interface CachedArtifact {
  readonly sha256: string;
  readonly bytes: number;
  /** When it was downloaded (the file's modification time). */
  readonly mtimeMs: number;
}

const CACHED = /^([0-9a-f]{64})\.tar\.gz$/;

/**
 * Which cached tarballs to remove: newest first, each kept while the count and the bytes kept so
 * far stay within the retention; a protected one is always kept (and fills the budget).
 */
export function cacheArtifactsToRemove(entries: readonly CachedArtifact[], retention: CacheRetention, protect: ReadonlySet<string>): string[] {
  const newestFirst = [...entries].sort((a, b) => b.mtimeMs - a.mtimeMs || a.sha256.localeCompare(b.sha256));
  let count = 0;
  let bytes = 0;
  for (const e of newestFirst) {
    if (!protect.has(e.sha256)) continue;
    count += 1;
    bytes += e.bytes;
  }
  const remove: string[] = [];
  for (const e of newestFirst) {
    if (protect.has(e.sha256)) continue;
    if (count + 1 <= retention.keep && bytes + e.bytes <= retention.maxBytes) {
      count += 1;
      bytes += e.bytes;
    } else {
      remove.push(e.sha256);
    }
  }
  return remove;
}

/** The release markers of this host (ReleaseStore provides them). */
export interface ReleaseMarkers {
  readMarker(app: string, version: string): Promise<ReleaseMarker | null>;
}

/** The SHA-256 of the bytes behind every app's active, previous and stable release on this host. */
export async function artifactsHostNeeds(markers: ReleaseMarkers, state: LocalState): Promise<Set<string>> {
  const needed = new Set<string>();
  // The saved assignment was verified when it was accepted; here it only widens what is kept.
  let assignment: Assignment | null = null;
  try {
    assignment = state.assignment ? parseAssignment(state.assignment.payload) : null;
  } catch {
    assignment = null;
  }
  const apps = new Set([...Object.keys(state.apps), ...Object.keys(assignment?.apps ?? {})]);
  for (const app of apps) {
    const local = state.apps[app];
    const versions = [local?.activeVersion, local?.previousVersion, assignment?.apps[app]?.stableVersion];
    for (const version of versions) {
      if (!version) continue;
      const marker = await markers.readMarker(app, version).catch(() => null);
      if (marker) needed.add(marker.sha256);
    }
  }
  return needed;
}

/** Removes the cached tarballs beyond the retention; returns the SHA-256 of each one removed. */
export async function pruneDownloadCache(opts: {
  cacheDir: string;
  retention: CacheRetention;
  protect: ReadonlySet<string>;
  logger: Logger;
}): Promise<string[]> {
  const entries: CachedArtifact[] = [];
  let names: string[];
  try {
    names = await readdir(opts.cacheDir);
  } catch {
    return [];
  }
  for (const name of names) {
    const sha256 = CACHED.exec(name)?.[1];
    if (sha256 === undefined) continue; // partial downloads are resume state, not cache
    const st = await lstat(join(opts.cacheDir, name)).catch(() => null);
    if (st?.isFile()) entries.push({ sha256, bytes: st.size, mtimeMs: st.mtimeMs });
  }
  const remove = cacheArtifactsToRemove(entries, opts.retention, opts.protect);
  const removed: string[] = [];
  for (const sha256 of remove) {
    try {
      await unlink(join(opts.cacheDir, `${sha256}.tar.gz`));
      removed.push(sha256);
    } catch (err) {
      opts.logger.warn({ err, sha256 }, 'could not remove a cached download');
    }
  }
  if (removed.length > 0) opts.logger.info({ removed: removed.length, kept: entries.length - removed.length }, 'download cache pruned');
  return removed;
}
