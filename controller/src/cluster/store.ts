import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { UnavailableError, errorMessage, type Logger } from '@flotilla/shared';
import { JsonBucket } from '../store/kv.js';
import { CLUSTER_BUCKET, leaderSchema, memberSchema, type LeaderRecord, type MemberRecord } from './records.js';

export interface ClusterBuckets {
  readonly leader: JsonBucket<LeaderRecord>;
  readonly members: JsonBucket<MemberRecord>;
}

/** Opens `flotilla_cluster` (creating it with `replicas` when missing): the lease and the members, by key. */
export async function openClusterBuckets(nc: NatsConnection, replicas: number, logger?: Logger): Promise<ClusterBuckets> {
  try {
    const kv = await new Kvm(nc).create(CLUSTER_BUCKET, { history: 1, replicas });
    return { leader: new JsonBucket(CLUSTER_BUCKET, kv, leaderSchema, logger), members: new JsonBucket(CLUSTER_BUCKET, kv, memberSchema, logger) };
  } catch (err) {
    throw new UnavailableError(`cannot open KV bucket ${CLUSTER_BUCKET}: ${errorMessage(err)}`, { cause: err });
  }
}

const ID_FILE = 'controller-id';

/**
 * This controller's id, kept in its data dir so a restart is the same controller (which may take
 * its own lease back at once, see lease.ts). A new data dir gets a new random id.
 */
export async function controllerId(dataDir: string): Promise<string> {
  const path = join(dataDir, ID_FILE);
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (/^[a-z0-9-]{4,64}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = `c-${randomBytes(6).toString('hex')}`;
  await writeFile(`${path}.tmp`, `${id}\n`, { mode: 0o644 });
  await rename(`${path}.tmp`, path);
  return id;
}
