import { describe, expect, it } from 'vitest';
import { HostMessageRate } from './host-rate.js';

describe('HostMessageRate', () => {
  it('lets a burst through, then the average, and counts what it drops per host', () => {
    const rate = new HostMessageRate({ perSecond: 5, burst: 10 });
    const t0 = 1_000_000;
    let admitted = 0;
    for (let i = 0; i < 1_000; i++) if (rate.admit('flood', t0)) admitted++;
    expect(admitted).toBe(10);
    expect(rate.droppedBy('flood')).toBe(990);
    // Another host is not touched by the flood.
    expect(rate.admit('quiet', t0)).toBe(true);
    expect(rate.droppedBy('quiet')).toBe(0);
    // One second later: five more.
    admitted = 0;
    for (let i = 0; i < 100; i++) if (rate.admit('flood', t0 + 1_000)) admitted++;
    expect(admitted).toBe(5);
    expect(rate.takeDropped()).toEqual([{ hostId: 'flood', dropped: 1_085 }]);
    expect(rate.takeDropped()).toEqual([]);
  });

  it('forgets hosts that went quiet', () => {
    const rate = new HostMessageRate({ perSecond: 1, burst: 2 });
    rate.admit('a', 0);
    rate.admit('b', 60_000);
    expect(rate.droppedBy('a')).toBe(0);
    // 'a' was swept as idle; it starts again with a full bucket.
    expect(rate.admit('a', 60_000)).toBe(true);
    expect(rate.admit('a', 60_000)).toBe(true);
    expect(rate.admit('a', 60_000)).toBe(false);
  });
});
