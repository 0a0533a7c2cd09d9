import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KV } from '@nats-io/kv';
import { createLogger } from '@flotilla/shared';
import { JsonBucket } from '../store/kv.js';
import { memoryKv } from '../store/memory-kv.js';
import { Leadership } from './leadership.js';
import { CLUSTER_BUCKET, leaderSchema, memberSchema } from './records.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const settings = { leaseMs: 4000, renewMs: 1000, marginMs: 1000 };

/** A view of one shared bucket whose calls fail while `cut` says this controller is cut off. */
function reach(kv: KV, cut: () => boolean): KV {
  return new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => (cut() ? Promise.reject(new Error('NATS is unreachable')) : (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
}

function controller(id: string, kv: KV, cut: () => boolean) {
  const events: string[] = [];
  const view = reach(kv, cut);
  const leadership = new Leadership({
    leaderBucket: new JsonBucket(CLUSTER_BUCKET, view, leaderSchema),
    memberBucket: new JsonBucket(CLUSTER_BUCKET, view, memberSchema),
    self: { id, grpc: `${id}:7400`, http: `${id}:7401` },
    settings,
    logger,
    monotonic: () => Date.now(),
    onGained: (fence) => events.push(`gained ${fence}`),
    onLost: () => events.push('lost'),
  });
  return { leadership, events };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('Leadership', () => {
  it('stops acting when it cannot renew before its lease ends, and takes its lease back with a new fence', async () => {
    let cut = false;
    const { leadership, events } = controller('c-a', memoryKv(), () => cut);
    await leadership.start();
    expect(leadership.fence()).toBe(1);
    cut = true;
    await vi.advanceTimersByTimeAsync(2900);
    expect(leadership.isLeader()).toBe(true);
    await vi.advanceTimersByTimeAsync(200);
    // The renewal sent at 0 was the last: it acts until 0 + lease - margin = 3000.
    expect(leadership.isLeader()).toBe(false);
    expect(() => leadership.fence()).toThrow(/not the leader/);
    expect(events).toEqual(['gained 1', 'lost']);
    cut = false;
    await vi.advanceTimersByTimeAsync(1100);
    expect(leadership.fence()).toBe(2);
    expect(events).toEqual(['gained 1', 'lost', 'gained 2']);
    await leadership.stop();
  });

  it('takes its lease again when a renewal lands after the lease ran out, rather than renewing it as a follower', async () => {
    const kv = memoryKv();
    let held: Promise<void> | null = null;
    let release = () => {};
    // A renewal's write stalls (a slow quorum, a stalled process) until released.
    const slow = new Proxy(kv, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          if (prop === 'update' && held) await held;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const { leadership, events } = controller('c-a', slow, () => false);
    await leadership.start();
    held = new Promise<void>((resolve) => (release = resolve));
    // The renewal sent at 1000 hangs past 3000, when the lease won at 0 stops being acted on.
    await vi.advanceTimersByTimeAsync(3200);
    expect(events).toEqual(['gained 1', 'lost']);
    held = null;
    release();
    await vi.advanceTimersByTimeAsync(2500);
    expect(events).toEqual(['gained 1', 'lost', 'gained 2']);
    expect(leadership.fence()).toBe(2);
    await leadership.stop();
  });

  it('lets a follower take over only after the leader has stopped acting', async () => {
    const kv = memoryKv();
    let aCut = false;
    const a = controller('c-a', kv, () => aCut);
    const b = controller('c-b', kv, () => false);
    await a.leadership.start();
    await b.leadership.start();
    expect([a.leadership.isLeader(), b.leadership.isLeader()]).toEqual([true, false]);
    aCut = true;
    let bGainedAtMs: number | null = null;
    let aActingWhenBGained = false;
    for (let i = 0; i < 100 && bGainedAtMs === null; i++) {
      await vi.advanceTimersByTimeAsync(100);
      if (b.leadership.isLeader()) {
        bGainedAtMs = Date.now();
        aActingWhenBGained = a.leadership.isLeader();
      }
    }
    expect(bGainedAtMs).not.toBeNull();
    expect(aActingWhenBGained).toBe(false);
    expect(b.leadership.fence()).toBe(2);
    expect(b.events).toEqual(['gained 2']);
    // Cut off, the old leader cannot even see it lost; back in reach, it follows.
    aCut = false;
    await vi.advanceTimersByTimeAsync(3000);
    expect(a.leadership.isLeader()).toBe(false);
    expect(a.leadership.leader()?.holder).toBe('c-b');
    await b.leadership.stop();
    await a.leadership.stop();
  });
});
