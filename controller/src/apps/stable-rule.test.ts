import { describe, expect, it } from 'vitest';
import type { StablePeriodRecord } from './records.js';
import { previousStable } from './stable-rule.js';

const period = (version: string, sinceMs: number, untilMs: number | null = null): StablePeriodRecord => ({ version, sinceMs, untilMs, rolloutId: null });

describe('the previous stable version', () => {
  it('is the version stable until now when a rollout succeeds', () => {
    expect(previousStable({ current: '1.0.0', periods: [period('1.0.0', 1)], next: '2.0.0', bad: new Set() })).toBe('1.0.0');
  });

  it('skips the version a revert leaves and marks bad, and the one it goes back to', () => {
    const periods = [period('1.0.0', 1, 2), period('2.0.0', 2)];
    expect(previousStable({ current: '2.0.0', periods, next: '1.0.0', bad: new Set(['2.0.0']) })).toBeNull();
  });

  it('reaches back past bad versions to the most recent good one', () => {
    const periods = [period('1.0.0', 1, 2), period('2.0.0', 2, 3), period('3.0.0', 3)];
    expect(previousStable({ current: '3.0.0', periods, next: '4.0.0', bad: new Set(['3.0.0']) })).toBe('2.0.0');
  });

  it('is the stable version a rollback to a named version leaves, when that one is good', () => {
    const periods = [period('1.0.0', 1, 2), period('2.0.0', 2)];
    expect(previousStable({ current: '2.0.0', periods, next: '0.9.0', bad: new Set() })).toBe('2.0.0');
  });

  it('is none for an app with no stable version before', () => {
    expect(previousStable({ current: null, periods: [], next: '1.0.0', bad: new Set() })).toBeNull();
  });
});
