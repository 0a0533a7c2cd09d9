import {
  assertAppName,
  assertVersion,
  LABEL_KEY,
  parseDuration,
  parseSelector,
  ValidationError,
} from '@flotilla/shared';
import { parseFailureLimit, parseStepSize, parseSteps, parseTrafficSteps } from './plan.js';
import type { RolloutSpec, RolloutSpecInput, RolloutStrategy } from './types.js';

export const ROLLOUT_DEFAULTS = Object.freeze({
  canary: 1,
  batch: '25%',
  spreadBy: 'zone',
  minHealthyTimeMs: 10_000,
  healthyDeadlineMs: 5 * 60_000,
  bakeMs: 0,
  maxFailures: 0,
  pauseAfterCanary: false,
  stableAfterMs: 0,
  autoRevert: true,
  crashLoopRestarts: 3,
  watchWindowMs: 10 * 60_000,
});

/**
 * Parses what an operator asked for (flag-shaped input) once, into a frozen, fully-defaulted
 * spec. Every problem is a ValidationError naming the option.
 */
export function makeRolloutSpec(input: RolloutSpecInput): RolloutSpec {
  const app = assertAppName(input.app);
  const version = assertVersion(input.version);
  const selector = (input.selector ?? '').trim();
  parseSelector(selector);

  let strategy: RolloutStrategy;
  if (input.steps !== undefined) {
    if (input.canary !== undefined || input.batch !== undefined) {
      throw new ValidationError('--steps cannot be combined with --canary or --batch');
    }
    strategy = { kind: 'steps', steps: parseSteps(input.steps, '--steps') };
  } else {
    strategy = {
      kind: 'batches',
      canary: parseStepSize(input.canary ?? ROLLOUT_DEFAULTS.canary, '--canary'),
      batch: parseStepSize(input.batch ?? ROLLOUT_DEFAULTS.batch, '--batch'),
    };
  }

  const spreadBy = input.spreadBy ?? ROLLOUT_DEFAULTS.spreadBy;
  if (!LABEL_KEY.test(spreadBy)) throw new ValidationError(`spread label "${spreadBy}" is not a valid label key`);

  const minHealthyTimeMs = duration(input.minHealthyTime, ROLLOUT_DEFAULTS.minHealthyTimeMs, '--min-healthy-time');
  const healthyDeadlineMs = duration(input.healthyDeadline, ROLLOUT_DEFAULTS.healthyDeadlineMs, '--healthy-deadline');
  // The deadline counts from the assignment and the healthy time from the first healthy report,
  // which comes later; a deadline not longer than the healthy time could never be met.
  if (healthyDeadlineMs <= minHealthyTimeMs) {
    throw new ValidationError(
      `--healthy-deadline (${healthyDeadlineMs}ms) must be longer than --min-healthy-time (${minHealthyTimeMs}ms)`,
    );
  }
  const bakeMs = duration(input.bake, ROLLOUT_DEFAULTS.bakeMs, '--bake');
  const canaryBakeMs = duration(input.canaryBake, bakeMs, '--canary-bake');

  const crashLoopRestarts = input.crashLoopRestarts ?? ROLLOUT_DEFAULTS.crashLoopRestarts;
  if (!Number.isInteger(crashLoopRestarts) || crashLoopRestarts < 0) {
    throw new ValidationError(`crash-loop restarts: ${crashLoopRestarts} is not a whole, non-negative number`);
  }
  const createdBy = input.createdBy.trim();
  if (createdBy === '') throw new ValidationError('a rollout needs the name of who started it');

  const spec: RolloutSpec = {
    app,
    version,
    selector,
    strategy,
    spreadBy,
    minHealthyTimeMs,
    healthyDeadlineMs,
    bakeMs,
    canaryBakeMs,
    maxFailures: parseFailureLimit(input.maxFailures ?? ROLLOUT_DEFAULTS.maxFailures, '--max-failures'),
    pauseAfterCanary: input.pauseAfterCanary ?? ROLLOUT_DEFAULTS.pauseAfterCanary,
    stableAfterMs: duration(input.stableAfter, ROLLOUT_DEFAULTS.stableAfterMs, '--stable-after'),
    autoRevert: input.autoRevert ?? ROLLOUT_DEFAULTS.autoRevert,
    crashLoopRestarts,
    watchWindowMs: duration(input.watchWindow, ROLLOUT_DEFAULTS.watchWindowMs, '--watch-window'),
    createdBy,
    ...(input.traffic !== undefined ? { traffic: parseTrafficSteps(input.traffic) } : {}),
  };
  return deepFreeze(spec);
}

function duration(value: string | number | undefined, fallback: number, what: string): number {
  return value === undefined ? fallback : parseDuration(value, what);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
