import { describe, expect, it } from 'vitest';
import { newHost } from './engine.js';
import { HostTable } from './host-table.js';
import type { HostProgress } from './types.js';

function host(i: number, over: Partial<HostProgress> = {}): HostProgress {
  return { ...newHost(`h${i}`, 0), ...over };
}

const hosts = (n: number) => Array.from({ length: n }, (_, i) => host(i));

describe('HostTable', () => {
  it.each([0, 1, 31, 32, 33, 1024, 1025, 40_000])('holds %i hosts in order and finds each by id', (n) => {
    const list = hosts(n);
    const table = HostTable.of(list);
    expect(table.size).toBe(n);
    expect([...table]).toEqual(list);
    expect(table.toArray()).toEqual(list);
    for (const i of [0, 1, 31, 32, n - 1].filter((x) => x >= 0 && x < n)) {
      expect(table.at(i)).toBe(list[i]);
      expect(table.find(`h${i}`)).toBe(list[i]);
      expect(table.positionOf(`h${i}`)).toBe(i);
    }
    expect(table.at(n)).toBeUndefined();
    expect(table.find('nobody')).toBeUndefined();
  });

  it('edits into a new table and leaves the old one as it was', () => {
    const list = hosts(5000);
    const before = HostTable.of(list);
    const editor = before.edit();
    const changed = [0, 31, 32, 1023, 1024, 4999];
    for (const i of changed) editor.set(i, host(i, { state: 'assigned' }));
    // Setting the same host twice in one edit keeps the last.
    editor.set(32, host(32, { state: 'passed' }));
    expect(editor.at(32)?.state).toBe('passed');
    const after = editor.done();

    expect(after).not.toBe(before);
    expect([...before]).toEqual(list);
    expect(before.toArray().every((h) => h.state === 'pending')).toBe(true);
    const states = after.toArray().map((h) => h.state);
    expect(states.filter((s) => s !== 'pending')).toHaveLength(changed.length);
    expect(after.at(32)?.state).toBe('passed');
    expect(after.at(4999)?.state).toBe('assigned');
    expect(after.find('h1023')?.state).toBe('assigned');
    // Hosts nobody touched are the very same records in both tables.
    expect(after.at(500)).toBe(before.at(500));
  });

  it('hands back the same table when an edit set nothing', () => {
    const table = HostTable.of(hosts(100));
    expect(table.edit().done()).toBe(table);
  });

  it('lets later edits build on earlier ones without changing them', () => {
    const t0 = HostTable.of(hosts(2000));
    const e1 = t0.edit();
    e1.set(7, host(7, { state: 'assigned' }));
    const t1 = e1.done();
    const e2 = t1.edit();
    e2.set(7, host(7, { state: 'passed' }));
    e2.set(1999, host(1999, { state: 'skipped' }));
    const t2 = e2.done();
    expect([t0.at(7)?.state, t1.at(7)?.state, t2.at(7)?.state]).toEqual(['pending', 'assigned', 'passed']);
    expect([t0.at(1999)?.state, t1.at(1999)?.state, t2.at(1999)?.state]).toEqual(['pending', 'pending', 'skipped']);
  });

  it('refuses a host listed twice and a position outside the table', () => {
    expect(() => HostTable.of([host(1), host(1)])).toThrow(/h1 twice/);
    expect(() => HostTable.of(hosts(3)).edit().set(3, host(3))).toThrow(/outside the rollout/);
  });

  it('hands out a frozen array, the same one each time', () => {
    const table = HostTable.of(hosts(40));
    expect(table.toArray()).toBe(table.toArray());
    expect(Object.isFrozen(table.toArray())).toBe(true);
  });
});
