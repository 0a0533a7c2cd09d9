import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConflictError } from '@flotilla/shared';
import { JsonBucket } from './kv.js';
import { memoryKv } from './memory-kv.js';
import { ShardedBucket, shardIndex } from './sharded.js';

const schema = z.object({ n: z.number() });
type Rec = z.infer<typeof schema>;

function sharded(count: number) {
  const kvs = Array.from({ length: count }, (_, i) => memoryKv(`b_${i}`));
  const bucket = new ShardedBucket<Rec>('b', kvs.map((kv, i) => new JsonBucket<Rec>(`b_${i}`, kv, schema)));
  return { bucket, kvs };
}

describe('shardIndex', () => {
  it('is FNV-1a of the UTF-8 bytes: fixed values every controller agrees on', () => {
    // FNV-1a 32 of "" is the offset basis; of "a" 0xe40c292c (the published test vectors).
    expect(shardIndex('', 2 ** 31)).toBe(0x811c9dc5 % 2 ** 31);
    expect(shardIndex('a', 2 ** 31)).toBe(0xe40c292c % 2 ** 31);
    expect(shardIndex('foobar', 2 ** 31)).toBe(0xbf9cf968 % 2 ** 31);
  });

  it('spreads a fleet evenly over eight shards', () => {
    const counts = new Array(8).fill(0) as number[];
    for (let i = 0; i < 8000; i++) counts[shardIndex(`web-${i}.example.net`, 8)]! += 1;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    for (const c of counts) expect(c).toBeLessThan(1150);
  });
});

describe('ShardedBucket', () => {
  it('keeps each key in exactly the shard its hash names, and reads it back from there', async () => {
    const { bucket, kvs } = sharded(4);
    const keys = Array.from({ length: 40 }, (_, i) => `host-${i}`);
    for (const [i, key] of keys.entries()) await bucket.create(key, { n: i });
    for (const [i, key] of keys.entries()) {
      expect((await bucket.get(key))?.value).toEqual({ n: i });
      for (const [s, kv] of kvs.entries()) expect((await kv.get(key)) !== null, `${key} in shard ${s}`).toBe(s === shardIndex(key, 4));
    }
    expect((await bucket.keys()).sort()).toEqual([...keys].sort());
    expect((await bucket.list()).map((e) => e.value.n).sort((a, b) => a - b)).toEqual(keys.map((_, i) => i));
  });

  it('compares and sets per key on the revision its shard gave', async () => {
    const { bucket } = sharded(4);
    const rev = await bucket.create('web-1', { n: 1 });
    await expect(bucket.create('web-1', { n: 9 })).rejects.toBeInstanceOf(ConflictError);
    const next = await bucket.update('web-1', { n: 2 }, rev);
    await expect(bucket.update('web-1', { n: 3 }, rev)).rejects.toBeInstanceOf(ConflictError);
    expect(await bucket.get('web-1')).toEqual({ key: 'web-1', value: { n: 2 }, revision: next });
    const after = await bucket.updateWithRetry('web-1', (cur) => ({ n: (cur?.value.n ?? 0) + 10 }));
    expect(after?.value).toEqual({ n: 12 });
    await bucket.delete('web-1');
    expect(await bucket.get('web-1')).toBeNull();
  });

  it('refuses to be built without shards', () => {
    expect(() => new ShardedBucket<Rec>('b', [])).toThrow(/at least one shard/);
  });
});
