import { entryOf } from '@flotilla/shared';

/**
 * How an install that failed is retried.
 *  - permanent: the same input will fail the same way (a bad signature, bytes that still do not
 *    match after a full re-download, a hostile archive, a bad manifest, a failing hook); retried
 *    only when a new assignment arrives.
 *  - transient: the controller or the disk may recover (unreachable, not found yet, out of
 *    space); retried after a bounded back-off, and at once on a new assignment.
 */
export type FailureKind = 'permanent' | 'transient';

/** Waits before the 1st, 2nd, 3rd... retry of a transient failure; the last one repeats. */
export const RETRY_DELAYS_MS: readonly number[] = Object.freeze([5_000, 30_000, 120_000, 600_000]);

// The install code imports the hook's error from here, beside the retry rules that name it permanent.
export { HookFailedError } from '@flotilla/shared';

/** True for the error an AbortSignal raises: the work was called off, nothing failed. */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR');
}

/** By the shared error table's `retry` column; anything not Flotilla's is transient. */
export function classifyFailure(err: unknown): FailureKind {
  return entryOf(err).retry;
}

/** The wait before retry number `attempt` (1 for the first retry). */
export function retryDelayMs(attempt: number, delays: readonly number[] = RETRY_DELAYS_MS): number {
  const i = Math.min(Math.max(1, Math.floor(attempt)), delays.length) - 1;
  return delays[i] ?? 0;
}

/** What the agent remembers about the last failed install of an app. */
export interface InstallFailure {
  readonly version: string;
  readonly kind: FailureKind;
  /** Failed attempts in a row for this version under the current assignment. */
  readonly attempts: number;
  readonly message: string;
  readonly atMs: number;
  /** When a transient failure may be retried; null for permanent ones. */
  readonly retryAtMs: number | null;
}

/** Records one more failure of `version`, counting on from `previous` when it was the same version. */
export function recordFailure(
  previous: InstallFailure | undefined,
  version: string,
  err: unknown,
  message: string,
  nowMs: number,
): InstallFailure {
  const kind = classifyFailure(err);
  const attempts = previous && previous.version === version ? previous.attempts + 1 : 1;
  return {
    version,
    kind,
    attempts,
    message,
    atMs: nowMs,
    retryAtMs: kind === 'transient' ? nowMs + retryDelayMs(attempts) : null,
  };
}

/**
 * The same assignment was asserted again (the controller re-sent it, a sync answered with it):
 * a transient failure is due at once. Its attempt count stays, so the back-off goes on growing.
 */
export function retryNow(failure: InstallFailure, nowMs: number): InstallFailure {
  if (failure.kind !== 'transient' || failure.retryAtMs === null || failure.retryAtMs <= nowMs) return failure;
  return { ...failure, retryAtMs: nowMs };
}

/** What status reports for a failure: when it is tried again, and why it failed. */
export function describeFailure(failure: InstallFailure, nowMs: number): string {
  if (failure.kind === 'permanent' || failure.retryAtMs === null) return failure.message;
  // An absolute time stays true in every later heartbeat; "in 5s" would not.
  const when = failure.retryAtMs <= nowMs ? 'now' : `at ${new Date(failure.retryAtMs).toISOString()}`;
  return `attempt ${failure.attempts} failed; retrying ${when}: ${failure.message}`;
}
