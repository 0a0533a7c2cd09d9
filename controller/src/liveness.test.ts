import { describe, expect, it } from 'vitest';
import { isSilentTooLong, sweepDecision, sweepIntervalMs } from './liveness.js';

describe('the down rule', () => {
  const host = { state: 'up' as const, lastSeenMs: 10_000, heartbeatIntervalMs: 200 };

  it('keeps a host up until it has missed more than downAfterMissed intervals', () => {
    expect(isSilentTooLong(host, 3, 10_000)).toBe(false);
    expect(isSilentTooLong(host, 3, 10_600)).toBe(false); // exactly three intervals
    expect(isSilentTooLong(host, 3, 10_601)).toBe(true);
    expect(sweepDecision(host, 3, 10_599)).toBeNull();
    expect(sweepDecision(host, 3, 10_601)).toBe('down');
  });

  it("measures against the host's own interval and the configured count", () => {
    const slow = { ...host, heartbeatIntervalMs: 5000 };
    expect(sweepDecision(slow, 3, 10_000 + 14_000)).toBeNull();
    expect(sweepDecision(slow, 3, 10_000 + 15_001)).toBe('down');
    expect(sweepDecision(slow, 5, 10_000 + 20_000)).toBeNull();
  });

  it('never moves a down host: only a heartbeat brings it back', () => {
    expect(sweepDecision({ ...host, state: 'down' }, 3, 99_999)).toBeNull();
  });
});

describe('sweepIntervalMs', () => {
  it('is a quarter of the shortest interval, within 100 ms .. 1 s', () => {
    expect(sweepIntervalMs([])).toBe(1000);
    expect(sweepIntervalMs([200])).toBe(100);
    expect(sweepIntervalMs([5000, 800])).toBe(200);
    expect(sweepIntervalMs([60_000])).toBe(1000);
    expect(sweepIntervalMs([40])).toBe(100);
  });
});
