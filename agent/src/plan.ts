import type { InstallFailure } from './retry.js';

/**
 * What convergence does for one app, decided from facts alone (no I/O), so that every branch is
 * tested without a disk, a controller or a clock.
 */
export type AppDecision =
  | { kind: 'keep' } // the desired version is active and supervised (or nothing is wanted and nothing runs)
  | { kind: 'start' } // the desired version is active on disk but no process is supervised
  | { kind: 'install' } // another version is wanted: verify, then activate (from disk or after a download)
  | { kind: 'wait'; untilMs: number } // the wanted version failed for a transient reason; retry then
  | { kind: 'failed' } // the wanted version failed for good under this assignment; leave things as they are
  | { kind: 'stop' }; // no longer assigned: stop its process, keep its files

export interface AppFacts {
  /** The version the assignment wants, or null when the app is not assigned. */
  desiredVersion: string | null;
  /** The version `current` points at. */
  activeVersion: string | null;
  /** A supervisor holds the active version's process (whatever state it is in). */
  supervised: boolean;
  /** The last failure of an install of this app since the assignment was accepted. */
  failure: InstallFailure | undefined;
  nowMs: number;
}

export function decideApp(f: AppFacts): AppDecision {
  if (f.desiredVersion === null) return f.supervised ? { kind: 'stop' } : { kind: 'keep' };
  const active = f.desiredVersion === f.activeVersion;
  if (active && f.supervised) return { kind: 'keep' };
  if (f.failure && f.failure.version === f.desiredVersion) {
    if (f.failure.kind === 'permanent') return { kind: 'failed' };
    if (f.failure.retryAtMs !== null && f.nowMs < f.failure.retryAtMs) return { kind: 'wait', untilMs: f.failure.retryAtMs };
  }
  return active ? { kind: 'start' } : { kind: 'install' };
}

/** The named steps of an install, in order. Each is idempotent, so a retry simply runs them again. */
export const INSTALL_STEPS = [
  'verify-descriptor', // the release signer's signature, and that it names this app and version
  'download', // gRPC stream to cache/, hashed as it arrives, never past the signed size
  'unpack', // staging dir, renamed into releases/<version> only when complete and safe
  'read-manifest', // flotilla.json, naming this app and version if it names any
  'pre-activate', // the release's hook; failing it aborts with the old version still running
  'stop-old', // the previous version's process
  'switch-current', // the atomic link switch
  'start-new', // the new process under a supervisor
  'post-start', // the release's hook; failing it is reported, the app keeps running
  'persist', // state.json: active and previous version, process identity
  'prune', // old releases beyond keepReleases (never current, previous or stable)
] as const;
export type InstallStep = (typeof INSTALL_STEPS)[number];

/**
 * The steps to run for a version: a release already unpacked with a matching marker (a revert,
 * or a retry after a later step failed) skips the download and the unpack.
 */
export function installSteps(releaseOnDisk: boolean): InstallStep[] {
  return INSTALL_STEPS.filter((s) => !(releaseOnDisk && (s === 'download' || s === 'unpack')));
}

/** Releases prune must never remove: what runs, what ran before it, and the stable version. */
export function protectedVersions(...versions: ReadonlyArray<string | null | undefined>): string[] {
  return [...new Set(versions.filter((v): v is string => typeof v === 'string' && v !== ''))];
}

/** The earliest time any waiting app should be looked at again, or null. */
export function nextWakeMs(decisions: readonly AppDecision[]): number | null {
  let wake: number | null = null;
  for (const d of decisions) if (d.kind === 'wait' && (wake === null || d.untilMs < wake)) wake = d.untilMs;
  return wake;
}
