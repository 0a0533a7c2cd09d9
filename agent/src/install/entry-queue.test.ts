import { describe, expect, it } from 'vitest';
import { ArchiveOrderQueue } from './entry-queue.js';

/** A queue whose jobs finish when the test says so. */
function harness(limit: number) {
  const q = new ArchiveOrderQueue(limit);
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const add = (path: string, ...more: string[]) =>
    q.reserve([path, ...more], (done) => {
      started.push(path);
      finish.set(path, done);
    });
  const settle = () => new Promise<void>((resolve) => queueMicrotask(resolve));
  return { q, started, finish, add, settle };
}

describe('ArchiveOrderQueue', () => {
  it('runs entries whose paths do not touch side by side, up to its limit', () => {
    const h = harness(2);
    expect(h.add('a/1')).toBe(true);
    expect(h.add('b/1')).toBe(true);
    expect(h.add('c/1')).toBe(false);
    expect(h.started).toEqual(['a/1', 'b/1']);
    expect(h.q.queued).toBe(1);
  });

  it('holds an entry back while an ancestor, a descendant or the same path under another case is in flight, and keeps archive order', async () => {
    const h = harness(8);
    h.add('ß');
    h.add('SS/x');
    h.add('other');
    // `other` waits too: nothing overtakes an earlier entry that is still waiting.
    expect(h.started).toEqual(['ß']);
    h.finish.get('ß')!();
    await h.settle();
    expect(h.started).toEqual(['ß', 'SS/x', 'other']);
  });

  it('treats the release root as everyone\'s ancestor', async () => {
    const h = harness(8);
    h.add('.');
    h.add('a');
    expect(h.started).toEqual(['.']);
    h.finish.get('.')!();
    await h.settle();
    expect(h.started).toEqual(['.', 'a']);
  });

  it('forgets each entry once it is done', async () => {
    const h = harness(4);
    for (let i = 0; i < 3000; i++) {
      h.add(`f${i}`);
      h.finish.get(`f${i}`)!();
      h.finish.delete(`f${i}`);
      await h.settle();
    }
    expect(h.q.inFlight).toBe(0);
    expect(h.q.queued).toBe(0);
    expect(h.started).toHaveLength(3000);
  });
});
