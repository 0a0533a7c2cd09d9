import { describe, expect, it } from 'vitest';
import { LivenessDeadlines, downDeadlineMs, isSilentTooLong } from './liveness.js';

describe('the down rule', () => {
  const host = { state: 'up' as const, lastSeenMs: 10_000, heartbeatIntervalMs: 200 };

  it('marks a host down once it has been silent for exactly downAfterMissed intervals', () => {
    expect(downDeadlineMs(10_000, 200, 3)).toBe(10_600);
    expect(isSilentTooLong(host, 3, 10_000)).toBe(false);
    expect(isSilentTooLong(host, 3, 10_599)).toBe(false);
    expect(isSilentTooLong(host, 3, 10_600)).toBe(true); // exactly three intervals
  });

  it("measures against the host's own interval and the configured count", () => {
    const slow = { ...host, heartbeatIntervalMs: 5000 };
    expect(isSilentTooLong(slow, 3, 10_000 + 14_999)).toBe(false);
    expect(isSilentTooLong(slow, 3, 10_000 + 15_000)).toBe(true);
    expect(isSilentTooLong(slow, 5, 10_000 + 24_999)).toBe(false);
    expect(isSilentTooLong(slow, 5, 10_000 + 25_000)).toBe(true);
  });
});

describe('LivenessDeadlines', () => {
  it('hands a host over exactly at its deadline, not a millisecond before', () => {
    const d = new LivenessDeadlines(3);
    d.heard('h1', 1000, 1000);
    expect(d.deadlineOf('h1')).toBe(4000);
    expect(d.nextDeadlineMs()).toBe(4000);
    expect(d.takeDue(3999)).toEqual([]);
    expect(d.takeDue(4000)).toEqual([{ hostId: 'h1', lastHeardMs: 1000, deadlineMs: 4000 }]);
    // Handed over once: it is no longer watched until it is heard again.
    expect(d.takeDue(9000)).toEqual([]);
    expect(d.size).toBe(0);
    expect(d.nextDeadlineMs()).toBeUndefined();
  });

  it('moves the deadline when the host is heard again', () => {
    const d = new LivenessDeadlines(3);
    d.heard('h1', 0, 1000);
    d.heard('h2', 500, 1000);
    expect(d.nextDeadlineMs()).toBe(3000);
    d.heard('h1', 1000, 1000);
    // h1 is no longer the earliest: h2 is, and h1's old deadline passes without it.
    expect(d.nextDeadlineMs()).toBe(3500);
    expect(d.takeDue(3000)).toEqual([]);
    expect(d.takeDue(3500).map((h) => h.hostId)).toEqual(['h2']);
    expect(d.takeDue(3999)).toEqual([]);
    expect(d.takeDue(4000).map((h) => h.hostId)).toEqual(['h1']);
  });

  it('keeps hosts with different intervals apart, each on its own allowance', () => {
    const d = new LivenessDeadlines(3);
    d.heard('slow', 0, 5000); // due at 15 s
    d.heard('mid', 1000, 1000); // due at 4 s
    d.heard('fast', 3000, 200); // due at 3.6 s: heard last, due first
    expect(d.nextDeadlineMs()).toBe(3600);
    expect(d.takeDue(3599)).toEqual([]);
    expect(d.takeDue(3600).map((h) => h.hostId)).toEqual(['fast']);
    expect(d.nextDeadlineMs()).toBe(4000);
    expect(d.takeDue(14_999).map((h) => h.hostId)).toEqual(['mid']);
    expect(d.nextDeadlineMs()).toBe(15_000);
    expect(d.takeDue(15_000).map((h) => h.hostId)).toEqual(['slow']);
  });

  it('moves a host whose interval changed to the allowance of its new interval', () => {
    const d = new LivenessDeadlines(3);
    d.heard('h1', 0, 200);
    d.heard('h1', 100, 5000);
    expect(d.deadlineOf('h1')).toBe(15_100);
    expect(d.takeDue(15_099)).toEqual([]);
    expect(d.takeDue(15_100).map((h) => h.hostId)).toEqual(['h1']);
  });

  it('skips a host that was the earliest but has been heard since, and forgets hosts on request', () => {
    const d = new LivenessDeadlines(3);
    d.heard('a', 0, 1000);
    d.heard('b', 10, 1000);
    d.heard('c', 20, 1000);
    const armedFor = d.nextDeadlineMs();
    expect(armedFor).toBe(3000);
    // A timer set for a's deadline fires after a (and then b) were heard again: nobody is due.
    d.heard('a', 2000, 1000);
    d.heard('b', 2010, 1000);
    d.forget('c');
    expect(d.takeDue(armedFor as number)).toEqual([]);
    expect(d.deadlineOf('c')).toBeUndefined();
    expect(d.takeDue(5010).map((h) => h.hostId)).toEqual(['a', 'b']);
  });

  it("gives every host a fresh allowance after the controller's own silence", () => {
    const d = new LivenessDeadlines(3);
    d.heard('a', 0, 1000);
    d.heard('b', 9000, 1000);
    d.restartAllFrom(10_000);
    expect(d.deadlineOf('a')).toBe(13_000);
    expect(d.deadlineOf('b')).toBe(13_000);
    expect(d.takeDue(12_999)).toEqual([]);
    expect(d.takeDue(13_000).map((h) => h.hostId).sort()).toEqual(['a', 'b']);
  });

  it('stays in order when the clock steps back: no host waits for the clock to catch up', () => {
    const d = new LivenessDeadlines(3);
    d.heard('dead', 100_000, 1000);
    d.heard('alive', 100_500, 1000);
    // The clock steps back an hour; the host still beating is heard at the new time.
    d.heard('alive', 100_000 - 3_600_000, 1000);
    const now = 100_000 - 3_600_000;
    expect(d.deadlineOf('dead')).toBe(now + 3000);
    expect(d.takeDue(now + 2999)).toEqual([]);
    expect(d.takeDue(now + 3000).map((h) => h.hostId).sort()).toEqual(['alive', 'dead']);
  });

  it('at 25,000 hosts beating every second, finds exactly the silent ones at their deadlines', () => {
    const d = new LivenessDeadlines(3);
    const hosts = 25_000;
    const silenced = new Map([
      [7, 2000], // silent from 2 s: its last beat was at 1.007 s
      [12_345, 4500],
      [24_999, 5000],
    ]);
    const found = new Map<number, number>();
    let checks = 0;
    // Every host beats once a second at its own phase (25 a millisecond); 10 s, checked every ms.
    for (let t = 0; t < 10_000; t++) {
      for (let i = t % 1000; i < hosts; i += 1000) {
        const from = silenced.get(i);
        if (from === undefined || t < from) d.heard(`h${i}`, t, 1000);
      }
      for (const due of d.takeDue(t)) {
        checks++;
        found.set(Number(due.hostId.slice(1)), t);
        expect(t).toBe(due.deadlineMs);
        expect(due.deadlineMs - due.lastHeardMs).toBe(3000);
      }
    }
    expect(checks).toBe(3);
    expect(found).toEqual(
      new Map([
        [7, 1007 + 3000],
        [12_345, 4345 + 3000],
        [24_999, 4999 + 3000],
      ]),
    );
    expect(d.size).toBe(hosts - 3);
  });
});
