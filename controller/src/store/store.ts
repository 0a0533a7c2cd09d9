import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import type { z } from 'zod';
import { UnavailableError, errorMessage, type Logger } from '@flotilla/shared';
import { JsonBucket } from './kv.js';
import {
  ASSIGNMENT_SHARDS,
  BUCKETS,
  BUCKET_HISTORY,
  ROLLOUTS_BUCKET_HISTORY,
  recordSchemas,
  type AppRecord,
  type ArtifactRecord,
  type AssignmentRecord,
  type HostRecord,
} from './records.js';
import { ShardedBucket, drainLegacyBucket } from './sharded.js';

/** The controller's durable state: one typed bucket per kind of record. */
export interface ControllerStore {
  readonly hosts: JsonBucket<HostRecord>;
  readonly apps: JsonBucket<AppRecord>;
  readonly artifacts: JsonBucket<ArtifactRecord>;
  /** One record per host, spread over ASSIGNMENT_SHARDS buckets by host id. */
  readonly assignments: ShardedBucket<AssignmentRecord>;
  /**
   * `flotilla_rollouts`, as the bucket itself: its records (rollout states and claims, the app
   * ledger's history and events, revert records) are typed by the modules that own them
   * (rollouts/, apps/, reverts/), which sit above the store.
   */
  readonly rollouts: KV;
}

export interface OpenStoreOptions {
  /** Replicas per bucket (1 on a single server). @default 1 */
  replicas?: number;
  logger?: Logger;
}

/** Creates the buckets that are missing (or opens them) and wraps each in a typed JsonBucket. */
export async function openControllerStore(nc: NatsConnection, opts: OpenStoreOptions = {}): Promise<ControllerStore> {
  const kvm = new Kvm(nc);
  const openKv = async (name: string, history: number) => {
    try {
      return await kvm.create(name, { history, replicas: opts.replicas ?? 1 });
    } catch (err) {
      throw new UnavailableError(`cannot open KV bucket ${name} (is JetStream enabled on the NATS server?): ${errorMessage(err)}`, {
        cause: err,
      });
    }
  };
  const open = async <T>(name: string, schema: z.ZodType<T>) =>
    new JsonBucket<T>(name, await openKv(name, BUCKET_HISTORY), schema, opts.logger);
  const openAssignments = async () => {
    const schema = recordSchemas.assignments as z.ZodType<AssignmentRecord>;
    const shards = await Promise.all(
      Array.from({ length: ASSIGNMENT_SHARDS }, (_, i) => open<AssignmentRecord>(`${BUCKETS.assignments}_${i}`, schema)),
    );
    const sharded = new ShardedBucket<AssignmentRecord>(BUCKETS.assignments, shards);
    // A store of an earlier version kept every host in one bucket: its records move to their
    // shards before anything reads or writes assignments.
    await drainLegacyBucket(nc, new JsonBucket<AssignmentRecord>(BUCKETS.assignments, await kvm.open(BUCKETS.assignments), schema, opts.logger), sharded, opts.logger);
    return sharded;
  };
  const [hosts, apps, artifacts, assignments, rolloutsKv] = await Promise.all([
    open<HostRecord>(BUCKETS.hosts, recordSchemas.hosts as z.ZodType<HostRecord>),
    open<AppRecord>(BUCKETS.apps, recordSchemas.apps as z.ZodType<AppRecord>),
    open<ArtifactRecord>(BUCKETS.artifacts, recordSchemas.artifacts as z.ZodType<ArtifactRecord>),
    openAssignments(),
    openKv(BUCKETS.rollouts, ROLLOUTS_BUCKET_HISTORY),
  ]);
  return Object.freeze({ hosts, apps, artifacts, assignments, rollouts: rolloutsKv });
}
