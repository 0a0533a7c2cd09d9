import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RESTART_POLICY,
  backoffDelay,
  decideRestart,
  resolveRestartPolicy,
  type RestartDecision,
  type RestartPolicy,
} from './restart-policy.js';

const policy = (over: Partial<RestartPolicy> = {}): RestartPolicy => ({
  initialDelayMs: 100,
  maxDelayMs: 1_000,
  multiplier: 2,
  resetAfterMs: 5_000,
  crashLoopThreshold: 1_000,
  crashLoopWindowMs: 10_000,
  ...over,
});

/**
 * Plays a supervisor: each run lasts the given time, then the process exits, the decision is
 * taken at the exit and the next run starts after its delay. Returns every decision.
 */
function simulate(runsMs: readonly number[], p: RestartPolicy, startAt = 1_000_000): RestartDecision[] {
  const history: number[] = [];
  const decisions: RestartDecision[] = [];
  let startedAt = startAt;
  for (const run of runsMs) {
    const exitAt = startedAt + run;
    history.push(exitAt);
    const d = decideRestart(Object.freeze([...history]), startedAt, exitAt, p);
    decisions.push(d);
    startedAt = exitAt + d.delayMs;
  }
  return decisions;
}

const quick = (n: number, ms = 10): number[] => Array.from({ length: n }, () => ms);

describe('decideRestart back-off', () => {
  it('restarts after the initial delay on the first exit', () => {
    expect(decideRestart([1_010], 1_000, 1_010, policy())).toEqual({
      decision: 'restart',
      delayMs: 100,
      reason: 'first exit',
    });
  });

  it('multiplies the delay for each crash in a row and caps it at the maximum', () => {
    const delays = simulate(quick(8), policy()).map((d) => d.delayMs);
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000]);
    expect(simulate(quick(3), policy()).map((d) => d.reason)).toEqual([
      'first exit',
      'exit 2 in a row; back-off grows',
      'exit 3 in a row; back-off grows',
    ]);
  });

  it('honours other multipliers, including a constant delay', () => {
    expect(simulate(quick(4), policy({ multiplier: 3, maxDelayMs: 10_000 })).map((d) => d.delayMs)).toEqual([
      100, 300, 900, 2_700,
    ]);
    expect(simulate(quick(4), policy({ multiplier: 1 })).map((d) => d.delayMs)).toEqual([100, 100, 100, 100]);
  });

  it('never exceeds the maximum, even when the initial delay equals it', () => {
    const p = policy({ initialDelayMs: 500, maxDelayMs: 500, multiplier: 10 });
    expect(simulate(quick(5), p).every((d) => d.delayMs === 500)).toBe(true);
    expect(backoffDelay(60, policy())).toBe(1_000);
    expect(backoffDelay(1, policy())).toBe(100);
  });

  it('starts the back-off over after a run that lasted resetAfterMs', () => {
    const decisions = simulate([...quick(4), 5_000, ...quick(2)], policy());
    expect(decisions.map((d) => d.delayMs)).toEqual([100, 200, 400, 800, 100, 200, 400]);
    expect(decisions[4]?.reason).toBe('exited after a stable run; back-off starts over');
    expect(decisions.every((d) => d.decision === 'restart')).toBe(true);
  });

  it('does not reset after a run just short of resetAfterMs', () => {
    const delays = simulate([...quick(3), 4_999, 10], policy()).map((d) => d.delayMs);
    expect(delays).toEqual([100, 200, 400, 800, 1_000]);
  });

  it('treats a long first run as stable', () => {
    const d = decideRestart([1_000_000 + 60_000], 1_000_000, 1_060_000, policy());
    expect(d).toMatchObject({ decision: 'restart', delayMs: 100 });
    expect(d.reason).toMatch(/stable run/);
  });
});

describe('decideRestart crash loop', () => {
  const loopy = policy({ crashLoopThreshold: 3, crashLoopWindowMs: 10_000 });

  it('declares a crash loop once exits within the window exceed the threshold, at the maximum delay', () => {
    const decisions = simulate(quick(6), loopy);
    expect(decisions.map((d) => d.decision)).toEqual([
      'restart',
      'restart',
      'restart',
      'crash-loop',
      'crash-loop',
      'crash-loop',
    ]);
    expect(decisions.slice(3).every((d) => d.delayMs === 1_000)).toBe(true);
    expect(decisions[3]?.reason).toBe('4 exits within 10000 ms exceed the crash-loop threshold of 3');
  });

  it('switches to the maximum delay at once, before the back-off would have reached it', () => {
    const p = policy({ crashLoopThreshold: 2, maxDelayMs: 60_000, resetAfterMs: 120_000, crashLoopWindowMs: 300_000 });
    expect(simulate(quick(4), p).map((d) => d.delayMs)).toEqual([100, 200, 60_000, 60_000]);
  });

  it('is not a crash loop when the exits are spread wider than the window', () => {
    // Each run lasts 4 s: never more than three exits fall within 10 s, however many there are.
    const decisions = simulate(quick(12, 4_000), policy({ crashLoopThreshold: 3, resetAfterMs: 60_000 }));
    expect(decisions.every((d) => d.decision === 'restart')).toBe(true);
    expect(decisions.at(-1)?.delayMs).toBe(1_000);
  });

  it('counts only exits inside the window', () => {
    // No run here is long enough to be stable, so only the window decides.
    const loopy = policy({ crashLoopThreshold: 3, crashLoopWindowMs: 10_000, resetAfterMs: 1_000_000 });
    const now = 100_000;
    // Three old exits long ago, then two recent ones: two in the window, not a loop.
    const history = [1_000, 1_100, 1_200, now - 50, now];
    expect(decideRestart(history, now - 10, now, loopy).decision).toBe('restart');
    // An exit exactly windowMs ago is outside the window.
    const edge = [now - 10_000, now - 30, now - 20, now];
    expect(decideRestart(edge, now - 10, now, loopy).decision).toBe('restart');
    expect(decideRestart([now - 9_999, ...edge.slice(1)], now - 10, now, loopy).decision).toBe('crash-loop');
  });

  it('ends the crash loop after a stable run and forgives the exits before it', () => {
    const decisions = simulate([...quick(5), 5_000, 10, 10], loopy);
    expect(decisions.map((d) => d.decision)).toEqual([
      'restart',
      'restart',
      'restart',
      'crash-loop',
      'crash-loop',
      'restart',
      'restart',
      'restart',
    ]);
    expect(decisions.slice(5).map((d) => d.delayMs)).toEqual([100, 200, 400]);
  });

  it('replays the crash-loop delays when it judges earlier runs', () => {
    // After the loop starts the app waits 10 s; a 1 s run after that wait is not stable, and
    // judging it with the plain back-off delay (400 ms) would wrongly make it 10.6 s long.
    const p = policy({
      crashLoopThreshold: 2,
      maxDelayMs: 10_000,
      resetAfterMs: 5_000,
      crashLoopWindowMs: 120_000,
    });
    const decisions = simulate([10, 10, 10, 1_000, 1_000], p);
    expect(decisions.map((d) => d.decision)).toEqual(['restart', 'restart', 'crash-loop', 'crash-loop', 'crash-loop']);
  });
});

describe('decideRestart input handling', () => {
  it('takes now as the exit when the history does not hold it yet', () => {
    expect(decideRestart([], 1_000, 1_050, policy())).toMatchObject({ decision: 'restart', delayMs: 100 });
    // Two earlier quick exits recorded, the current one not: this is the third in a row.
    const d = decideRestart([1_010, 1_120], 1_330, 1_340, policy());
    expect(d.delayMs).toBe(400);
  });

  it('accepts an unsorted history and leaves it untouched', () => {
    const history = Object.freeze([1_120, 1_010, 1_340]);
    expect(decideRestart(history, 1_330, 1_340, policy()).delayMs).toBe(400);
    expect(history).toEqual([1_120, 1_010, 1_340]);
  });
});

describe('restart policy defaults', () => {
  it('are sane and frozen', () => {
    expect(Object.isFrozen(DEFAULT_RESTART_POLICY)).toBe(true);
    expect(DEFAULT_RESTART_POLICY.initialDelayMs).toBeLessThan(DEFAULT_RESTART_POLICY.maxDelayMs);
    expect(DEFAULT_RESTART_POLICY.multiplier).toBeGreaterThan(1);
    expect(resolveRestartPolicy()).toEqual(DEFAULT_RESTART_POLICY);
    expect(resolveRestartPolicy({ initialDelayMs: 5 })).toMatchObject({ initialDelayMs: 5, maxDelayMs: 30_000 });
  });

  it('refuses a policy that makes no sense, naming the field', () => {
    expect(() => resolveRestartPolicy({ maxDelayMs: -1 })).toThrow(/maxDelayMs/);
    expect(() => resolveRestartPolicy({ multiplier: Number.NaN })).toThrow(/multiplier/);
    expect(() => resolveRestartPolicy({ initialDelayMs: 5_000, maxDelayMs: 1_000 })).toThrow(/maxDelayMs/);
  });
});
