import { ValidationError } from '@flotilla/shared';

/**
 * When to restart an app that exited on its own, as a pure function of its recent exits, so the
 * back-off rules are tested without sleeping.
 */
export interface RestartPolicy {
  /** Delay before the first restart of a run of crashes. @default 1000 */
  initialDelayMs: number;
  /** Ceiling of the delay; also the delay while crash-looping. @default 30000 */
  maxDelayMs: number;
  /** Each further crash in a row multiplies the delay by this. @default 2 */
  multiplier: number;
  /** A run at least this long counts as stable: the back-off starts over after it. @default 30000 */
  resetAfterMs: number;
  /** More exits than this within the window (since the last stable run) is a crash loop. @default 5 */
  crashLoopThreshold: number;
  /** @default 60000 */
  crashLoopWindowMs: number;
}

export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = Object.freeze({
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  multiplier: 2,
  resetAfterMs: 30_000,
  crashLoopThreshold: 5,
  crashLoopWindowMs: 60_000,
});

export interface RestartDecision {
  /** Both restart; 'crash-loop' says the app is failing over and over and waits the longest. */
  decision: 'restart' | 'crash-loop';
  delayMs: number;
  reason: string;
}

/**
 * Decides the restart after an exit.
 *
 * `history` holds the exit times of this release's process, oldest first, the exit being decided
 * on last. When it does not end with an exit at or after `lastStartMs` (the caller did not record
 * it yet), `now` is taken as that exit.
 *
 * Only the last start time is known, so the starts of earlier runs are rebuilt by replaying the
 * decisions: run i+1 started at exit i plus the delay decided then. That tells which earlier runs
 * were stable, and a stable run forgives everything before it (delay and crash-loop count).
 */
export function decideRestart(
  history: readonly number[],
  lastStartMs: number,
  now: number,
  policy: RestartPolicy,
): RestartDecision {
  const exits = [...history].filter((t) => Number.isFinite(t)).sort((a, b) => a - b);
  const last = exits[exits.length - 1];
  if (last === undefined || last < lastStartMs) exits.push(now);

  let streakStart = 0;
  let decided: RestartDecision = { decision: 'restart', delayMs: 0, reason: '' };
  let previousRestartAt: number | undefined;
  for (let i = 0; i < exits.length; i++) {
    const isLast = i === exits.length - 1;
    const exitAt = isLast ? Math.max(now, exits[i] as number) : (exits[i] as number);
    const startedAt = isLast ? lastStartMs : previousRestartAt;
    const stable = startedAt !== undefined && exitAt - startedAt >= policy.resetAfterMs;
    if (stable) streakStart = i;
    decided = decideOne(exits, streakStart, i, exitAt, stable, policy);
    previousRestartAt = exitAt + decided.delayMs;
  }
  return decided;
}

function decideOne(
  exits: readonly number[],
  streakStart: number,
  index: number,
  at: number,
  stable: boolean,
  policy: RestartPolicy,
): RestartDecision {
  const windowStart = at - policy.crashLoopWindowMs;
  let recent = 0;
  for (let j = streakStart; j <= index; j++) if ((exits[j] as number) > windowStart) recent++;
  if (recent > policy.crashLoopThreshold) {
    return {
      decision: 'crash-loop',
      delayMs: policy.maxDelayMs,
      reason: `${recent} exits within ${policy.crashLoopWindowMs} ms exceed the crash-loop threshold of ${policy.crashLoopThreshold}`,
    };
  }
  const inARow = index - streakStart + 1;
  const delayMs = backoffDelay(inARow, policy);
  if (stable) return { decision: 'restart', delayMs, reason: 'exited after a stable run; back-off starts over' };
  if (inARow === 1) return { decision: 'restart', delayMs, reason: 'first exit' };
  return { decision: 'restart', delayMs, reason: `exit ${inARow} in a row; back-off grows` };
}

/** The delay before restart number `inARow` of a run of crashes (1-based), capped. */
export function backoffDelay(inARow: number, policy: RestartPolicy): number {
  const raw = policy.initialDelayMs * Math.pow(Math.max(1, policy.multiplier), Math.max(0, inARow - 1));
  return Math.round(Math.min(policy.maxDelayMs, Math.max(0, raw)));
}

/** Fills a partial policy with the defaults and refuses values that would make no sense. */
export function resolveRestartPolicy(partial: Partial<RestartPolicy> = {}): RestartPolicy {
  const policy = { ...DEFAULT_RESTART_POLICY, ...partial };
  for (const [key, value] of Object.entries(policy)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new ValidationError(`restart policy ${key} must be a finite number >= 0, got ${String(value)}`);
    }
  }
  if (policy.maxDelayMs < policy.initialDelayMs) {
    throw new ValidationError('restart policy maxDelayMs must not be below initialDelayMs');
  }
  return Object.freeze(policy);
}
