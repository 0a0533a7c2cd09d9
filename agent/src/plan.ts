import type { InstallFailure } from './retry.js';

/**
 * What convergence does for one app, decided from facts alone (no I/O), so that every branch is
 * tested without a disk, a controller or a clock.
 */
export type AppDecision =
  | { kind: 'keep' } // the desired version is active and supervised (or nothing is wanted and nothing runs)
  | { kind: 'start' } // the desired version is active on disk but no process is supervised
  | { kind: 'install' } // another version is wanted, or its install is unfinished: run (the rest of) the install steps
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
  /** An install of the desired version began and has not finished all its steps (state.json). */
  unfinished: boolean;
  nowMs: number;
}

export function decideApp(f: AppFacts): AppDecision {
  if (f.desiredVersion === null) return f.supervised ? { kind: 'stop' } : { kind: 'keep' };
  const active = f.desiredVersion === f.activeVersion;
  if (active && f.supervised && !f.unfinished) return { kind: 'keep' };
  if (f.failure && f.failure.version === f.desiredVersion) {
    if (f.failure.kind === 'permanent') return { kind: 'failed' };
    if (f.failure.retryAtMs !== null && f.nowMs < f.failure.retryAtMs) return { kind: 'wait', untilMs: f.failure.retryAtMs };
  }
  // A crash (or a failure) after the link switch leaves the active version's install unfinished:
  // its remaining steps (start, persist, post-start, prune) still run.
  if (f.unfinished) return { kind: 'install' };
  return active ? { kind: 'start' } : { kind: 'install' };
}

/** Releases prune must never remove: what runs, what ran before it, and the stable version. */
export function protectedVersions(...versions: ReadonlyArray<string | null | undefined>): string[] {
  return [...new Set(versions.filter((v): v is string => typeof v === 'string' && v !== ''))];
}

/**
 * When the next transient failure is due for a retry, or null: the earliest retry time among
 * the apps whose failed version is still the one the assignment wants.
 */
export function nextRetryMs(
  failures: ReadonlyMap<string, InstallFailure>,
  wanted: (app: string) => string | null,
): number | null {
  let wake: number | null = null;
  for (const [app, f] of failures) {
    if (f.kind !== 'transient' || f.retryAtMs === null || wanted(app) !== f.version) continue;
    if (wake === null || f.retryAtMs < wake) wake = f.retryAtMs;
  }
  return wake;
}
