/**
 * Deadlines for the tests and the benchmark. A deadline is for a process that hung, never a
 * guess at how fast a healthy one is: a shared, loaded machine runs everything several times
 * slower, and a test must still pass there. Every deadline in test/src goes through
 * `deadlineMs`, so one factor (`TEST_DEADLINE_SCALE`) stretches them all at once.
 */

/** @default 3 — a quiet machine's figure times three still ends a hung test in minutes. */
export const DEADLINE_SCALE = readScale(process.env.TEST_DEADLINE_SCALE);

function readScale(text: string | undefined): number {
  if (text === undefined || text === '') return 3;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`TEST_DEADLINE_SCALE "${text}" must be a number above 0`);
  return n;
}

/** `ms` (what a quiet machine would comfortably need) stretched by the deadline scale. */
export function deadlineMs(ms: number): number {
  return Math.round(ms * DEADLINE_SCALE);
}

/** The same for a duration flag of the programs (`'60s'` → `'180s'`): whole seconds. */
export function deadlineFlag(seconds: number): string {
  return `${Math.ceil(seconds * DEADLINE_SCALE)}s`;
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

export interface WaitOptions {
  /** Before scaling. @default 10_000 */
  timeoutMs?: number;
  /** @default 50 */
  intervalMs?: number;
}

/**
 * Polls `check` until it returns a value other than undefined/false, and returns that value.
 * Fails after `deadlineMs(timeoutMs)` with the last error `check` threw, if any.
 */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10_000, intervalMs = 50 }: WaitOptions = {},
): Promise<T> {
  const limitMs = deadlineMs(timeoutMs);
  const deadline = Date.now() + limitMs;
  let lastError: unknown;
  // Bounded by time; the check runs at least once, however late the first turn comes.
  for (let first = true; first || Date.now() < deadline; first = false) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    await delay(intervalMs);
  }
  throw new Error(`timed out after ${limitMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}
