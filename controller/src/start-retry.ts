/**
 * Whether a controller whose start failed starts again at once. A JetStream request that timed
 * out (a cluster electing stream leaders after losing a node, say: seconds during which every
 * request to those streams times out) is worth another go; a bad config, a refused connection or
 * anything else is not, and fails the start as before (a supervisor's restart policy decides).
 */
export interface StartRetry {
  retry: boolean;
  delayMs: number;
  reason: string;
}

/** Attempts in all, the first included. */
export const START_ATTEMPTS = 5;

export function startRetry(err: unknown, attempt: number): StartRetry {
  if (!timedOut(err)) return { retry: false, delayMs: 0, reason: 'not a timeout' };
  if (attempt >= START_ATTEMPTS) return { retry: false, delayMs: 0, reason: `timed out ${attempt} times` };
  return { retry: true, delayMs: Math.min(1000 * 2 ** (attempt - 1), 8000), reason: 'a NATS request timed out' };
}

/** A nats.js TimeoutError, itself or as the cause of what was thrown (bounded walk). */
function timedOut(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    if (e.name === 'TimeoutError') return true;
    e = e.cause;
  }
  return false;
}
