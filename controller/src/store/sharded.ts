import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConflictError, errorMessage, type Logger } from '@flotilla/shared';
import type { Entry, KvBucket, Mutation, RecordBucket, UpdateOptions } from './kv.js';

/**
 * Which of `count` shards holds `key`: FNV-1a (32-bit) over the key's UTF-8 bytes, modulo the
 * count. Part of the store's format: every controller must place a key in the same shard.
 */
export function shardIndex(key: string, count: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/**
 * The records of one kind spread over several KV buckets by key. nats-server (2.10) writes and
 * fsyncs one bucket's messages in turn, on that bucket's own goroutine, and several buckets in
 * parallel: spreading the keys lets writes to different hosts be flushed together. Each key lives
 * in exactly one shard, so a revision read from `get` is the one `update` compares for that key,
 * and every compare-and-set guarantee of one bucket holds per key as before.
 */
export class ShardedBucket<T> implements RecordBucket<T> {
  constructor(
    /** The records' name (the shards are `<name>_0` … `<name>_<n-1>`). */
    readonly name: string,
    private readonly shards: readonly KvBucket<T>[],
  ) {
    if (shards.length === 0) throw new Error(`${name}: a sharded bucket needs at least one shard`);
  }

  get shardCount(): number {
    return this.shards.length;
  }

  /** The bucket that holds `key`. */
  shardOf(key: string): KvBucket<T> {
    return this.shards[shardIndex(key, this.shards.length)] as KvBucket<T>;
  }

  get(key: string): Promise<Entry<T> | null> {
    return this.shardOf(key).get(key);
  }

  create(key: string, value: T): Promise<number> {
    return this.shardOf(key).create(key, value);
  }

  update(key: string, value: T, revision: number): Promise<number> {
    return this.shardOf(key).update(key, value, revision);
  }

  put(key: string, value: T): Promise<number> {
    return this.shardOf(key).put(key, value);
  }

  delete(key: string): Promise<void> {
    return this.shardOf(key).delete(key);
  }

  updateWithRetry(key: string, mutate: Mutation<T>, opts?: UpdateOptions): Promise<Entry<T> | null> {
    return this.shardOf(key).updateWithRetry(key, mutate, opts);
  }

  async keys(filter?: string): Promise<string[]> {
    return (await Promise.all(this.shards.map((s) => s.keys(filter)))).flat();
  }

  async list(filter?: string): Promise<Entry<T>[]> {
    return (await Promise.all(this.shards.map((s) => s.list(filter)))).flat();
  }

  /** Watches every shard; if one watch cannot start, the others are stopped and the error thrown. */
  async watchUpdates(onChange: (entry: Entry<T>) => void): Promise<() => void> {
    const started = await Promise.allSettled(this.shards.map((s) => s.watchUpdates(onChange)));
    const stops = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const stop of stops) stop();
      throw failed.reason;
    }
    return () => {
      for (const stop of stops) stop();
    };
  }
}

/** What moving a single bucket's records into its shards did. */
export interface LegacyDrain {
  /** Records copied into their shard now. */
  copied: number;
  /** Records whose shard already held the key (a copy by an earlier or concurrent start, or a newer write): left as they are. */
  present: number;
}

/**
 * Moves the records of `legacy`, the single bucket a store of an earlier version kept, into
 * `into`'s shards, then deletes the legacy bucket. Each record is created in its shard only when
 * the shard holds nothing under that key, so a key written since (or copied by a controller
 * starting at the same time) is never overwritten with an older record, and a start that died
 * half way is finished by the next. A legacy bucket another controller deleted meanwhile means
 * that controller finished the move. Returns null when there is no legacy bucket.
 */
export async function drainLegacyBucket<T>(
  nc: NatsConnection,
  legacy: RecordBucket<T>,
  into: ShardedBucket<T>,
  logger?: Logger,
): Promise<LegacyDrain | null> {
  const jsm = await jetstreamManager(nc);
  const stream = `KV_${legacy.name}`;
  const gone = (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
  try {
    await jsm.streams.info(stream);
  } catch (err) {
    if (gone(err)) return null;
    throw err;
  }
  const drain: LegacyDrain = { copied: 0, present: 0 };
  try {
    for (const entry of await legacy.list()) {
      try {
        await into.create(entry.key, entry.value);
        drain.copied++;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        drain.present++;
      }
    }
    await jsm.streams.delete(stream);
  } catch (err) {
    const stillThere = await jsm.streams.info(stream).then(
      () => true,
      (e: unknown) => !gone(e),
    );
    if (stillThere) throw err;
    logger?.info({ bucket: legacy.name, err: errorMessage(err) }, 'legacy bucket removed by another controller while moving it');
  }
  logger?.info({ bucket: legacy.name, into: `${into.name}_0..${into.shardCount - 1}`, ...drain }, 'moved a single bucket\'s records into its shards');
  return drain;
}
