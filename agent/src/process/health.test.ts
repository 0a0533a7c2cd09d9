import { describe, expect, it } from 'vitest';
import { HealthTracker } from './health.js';

const feed = (tracker: HealthTracker, results: ReadonlyArray<[boolean, number]>) =>
  results.map(([ok, at]) => tracker.record(ok, at));

describe('HealthTracker', () => {
  it('stays unknown until the first decision, then needs successThreshold successes in a row', () => {
    const t = new HealthTracker({ startPeriodMs: 0, failureThreshold: 3, successThreshold: 2 }, 0);
    expect(t.state).toBe('unknown');
    expect(feed(t, [[true, 1], [false, 2], [true, 3]])).toEqual([null, null, null]);
    expect(t.state).toBe('unknown');
    expect(t.record(true, 4)).toBe('healthy');
    expect(t.record(true, 5)).toBeNull();
  });

  it('turns unhealthy only after failureThreshold failures in a row, and back after the successes', () => {
    const t = new HealthTracker({ startPeriodMs: 0, failureThreshold: 3, successThreshold: 2 }, 0);
    feed(t, [[true, 1], [true, 2]]);
    expect(feed(t, [[false, 3], [false, 4], [true, 5], [false, 6], [false, 7]])).toEqual([null, null, null, null, null]);
    expect(t.state).toBe('healthy');
    expect(t.record(false, 8)).toBe('unhealthy');
    expect(t.record(false, 9)).toBeNull();
    expect(t.record(true, 10)).toBeNull();
    expect(t.record(true, 11)).toBe('healthy');
  });

  it('decides unhealthy from unknown with the same threshold', () => {
    const t = new HealthTracker({ startPeriodMs: 0, failureThreshold: 2, successThreshold: 1 }, 0);
    expect(feed(t, [[false, 1], [false, 2]])).toEqual([null, 'unhealthy']);
  });

  it('does not count failures during the start period', () => {
    const t = new HealthTracker({ startPeriodMs: 1_000, failureThreshold: 2, successThreshold: 1 }, 10_000);
    expect(feed(t, [[false, 10_100], [false, 10_500], [false, 10_999]])).toEqual([null, null, null]);
    expect(t.state).toBe('unknown');
    expect(t.record(false, 11_000)).toBeNull();
    expect(t.record(false, 11_100)).toBe('unhealthy');
  });

  it('counts failures inside the start period once the app was healthy', () => {
    const t = new HealthTracker({ startPeriodMs: 60_000, failureThreshold: 2, successThreshold: 1 }, 0);
    expect(t.record(true, 10)).toBe('healthy');
    expect(feed(t, [[false, 20], [false, 30]])).toEqual([null, 'unhealthy']);
  });

  it('accepts a success during the start period', () => {
    const t = new HealthTracker({ startPeriodMs: 60_000, failureThreshold: 1, successThreshold: 1 }, 0);
    expect(feed(t, [[false, 10], [true, 20]])).toEqual([null, 'healthy']);
  });
});
