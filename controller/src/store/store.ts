import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import type { z } from 'zod';
import { UnavailableError, errorMessage, type Logger } from '@flotilla/shared';
import { JsonBucket } from './kv.js';
import {
  BUCKETS,
  BUCKET_HISTORY,
  recordSchemas,
  type AppRecord,
  type ArtifactRecord,
  type AssignmentRecord,
  type HostRecord,
} from './records.js';

/** The controller's durable state: one typed bucket per kind of record. */
export interface ControllerStore {
  readonly hosts: JsonBucket<HostRecord>;
  readonly apps: JsonBucket<AppRecord>;
  readonly artifacts: JsonBucket<ArtifactRecord>;
  readonly assignments: JsonBucket<AssignmentRecord>;
}

export interface OpenStoreOptions {
  /** Replicas per bucket (1 on a single server). @default 1 */
  replicas?: number;
  logger?: Logger;
}

/** Creates the buckets that are missing (or opens them) and wraps each in a typed JsonBucket. */
export async function openControllerStore(nc: NatsConnection, opts: OpenStoreOptions = {}): Promise<ControllerStore> {
  const kvm = new Kvm(nc);
  const open = async <T>(name: string, schema: z.ZodType<T>) => {
    try {
      const kv = await kvm.create(name, { history: BUCKET_HISTORY, replicas: opts.replicas ?? 1 });
      return new JsonBucket<T>(name, kv, schema, opts.logger);
    } catch (err) {
      throw new UnavailableError(`cannot open KV bucket ${name} (is JetStream enabled on the NATS server?): ${errorMessage(err)}`, {
        cause: err,
      });
    }
  };
  const [hosts, apps, artifacts, assignments] = await Promise.all([
    open<HostRecord>(BUCKETS.hosts, recordSchemas.hosts as z.ZodType<HostRecord>),
    open<AppRecord>(BUCKETS.apps, recordSchemas.apps as z.ZodType<AppRecord>),
    open<ArtifactRecord>(BUCKETS.artifacts, recordSchemas.artifacts as z.ZodType<ArtifactRecord>),
    open<AssignmentRecord>(BUCKETS.assignments, recordSchemas.assignments as z.ZodType<AssignmentRecord>),
  ]);
  return Object.freeze({ hosts, apps, artifacts, assignments });
}
