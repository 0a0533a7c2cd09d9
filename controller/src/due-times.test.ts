import { describe, expect, it } from 'vitest';
import { DueTimes } from './due-times.js';

describe('DueTimes', () => {
  it('hands out what is due, earliest first, and only once', () => {
    const due = new DueTimes<string>();
    due.set('h3', 300);
    due.set('h1', 100);
    due.set('h2', 200);
    expect(due.earliest()).toBe(100);
    expect(due.takeDue(99)).toEqual([]);
    expect(due.takeDue(200)).toEqual(['h1', 'h2']);
    expect(due.takeDue(200)).toEqual([]);
    expect([...due.keys()]).toEqual(['h3']);
    expect(due.earliest()).toBe(300);
  });

  it('follows a key that is moved or deleted', () => {
    const due = new DueTimes<string>();
    due.set('h1', 100);
    due.set('h2', 200);
    due.set('h1', 500);
    due.delete('h2');
    expect(due.earliest()).toBe(500);
    expect(due.takeDue(400)).toEqual([]);
    due.set('h1', 100);
    expect(due.takeDue(1_000)).toEqual(['h1']);
    expect(due.size).toBe(0);
    expect(due.earliest()).toBeNull();
  });

  it('keeps a key set to Infinity without it ever falling due', () => {
    const due = new DueTimes<string>();
    due.set('h1', Infinity);
    expect(due.has('h1')).toBe(true);
    expect(due.earliest()).toBeNull();
    expect(due.takeDue(Number.MAX_SAFE_INTEGER)).toEqual([]);
    expect(due.delete('h1')).toBe(true);
    expect(due.delete('h1')).toBe(false);
  });

  it('agrees with a plain sort after many moves (stale entries are dropped or compacted)', () => {
    const due = new DueTimes<number>();
    const model = new Map<number, number>();
    let seed = 42;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    let now = 0;
    for (let round = 0; round < 5_000; round++) {
      const key = next(200);
      const roll = next(10);
      if (roll < 6) {
        const at = now + next(1_000);
        due.set(key, at);
        model.set(key, at);
      } else if (roll < 8) {
        due.delete(key);
        model.delete(key);
      } else {
        now += next(300);
        const expected = [...model].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]);
        const taken = due.takeDue(now);
        expect(taken.map((k) => model.get(k))).toEqual(expected.map(([, at]) => at));
        expect(new Set(taken)).toEqual(new Set(expected.map(([k]) => k)));
        for (const k of taken) model.delete(k);
      }
      const min = Math.min(...model.values());
      expect(due.earliest()).toBe(model.size === 0 ? null : min);
      expect(due.size).toBe(model.size);
    }
  });
});
