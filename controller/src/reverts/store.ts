import type { KV } from '@nats-io/kv';
import type { z } from 'zod';
import type { Logger } from '@flotilla/shared';
import { JsonBucket, type Entry } from '../store/kv.js';
import { BUCKETS } from '../store/records.js';
import { revertKey, revertSchema, type RevertRecord } from './records.js';

/** `revert.<app>` records in `flotilla_rollouts`, read and written with compare-and-set. */
export class RevertStore {
  private readonly bucket: JsonBucket<RevertRecord>;

  constructor(kv: KV, logger?: Logger) {
    this.bucket = new JsonBucket(BUCKETS.rollouts, kv, revertSchema as unknown as z.ZodType<RevertRecord>, logger);
  }

  /** The app's latest revert, with its revision (for compare-and-set). */
  read(app: string): Promise<Entry<RevertRecord> | null> {
    return this.bucket.get(revertKey(app));
  }

  /**
   * Writes a revert record if the key is still as read (`revision` null: it must not exist).
   * A ConflictError means another writer got there first.
   */
  write(record: RevertRecord, revision: number | null): Promise<number> {
    const key = revertKey(record.app);
    return revision === null ? this.bucket.create(key, record) : this.bucket.update(key, record, revision);
  }

  /** Reverts left half-done (a controller that stopped during one). */
  async unfinished(): Promise<Entry<RevertRecord>[]> {
    return (await this.bucket.list('revert.*')).filter((e) => e.value.status === 'reverting');
  }
}
