// The assignment buckets against a real nats-server: a store of the previous layout (one
// `flotilla_assignments` bucket) is moved into its eight shards when a controller opens it, with
// nothing lost, nothing newer overwritten, and two controllers opening it at once.
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ASSIGNMENT_SHARDS,
  AssignmentWriter,
  BUCKETS,
  JsonBucket,
  openControllerStore,
  recordSchemas,
  shardIndex,
  type AssignmentRecord,
  type RecordBucket,
} from '@flotilla/controller';
import { createLogger, generateKeyPairPem, parsePrivateKey, type AppAssignment } from '@flotilla/shared';
import { startNatsServer, type NatsServer } from './nats-server.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const signingKey = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'controller.key');
const release = (version: string): AppAssignment => ({ version, release: { payload: `{"version":"${version}"}`, keyId: 'k', signature: 's' } });
const schema = recordSchemas.assignments as never;

let nats: NatsServer;
const conns: NatsConnection[] = [];
const link = async (): Promise<NatsConnection> => {
  const nc = await connect({ servers: nats.url, name: 'test-store-shards' });
  conns.push(nc);
  return nc;
};

const writerOn = (bucket: RecordBucket<AssignmentRecord>) =>
  AssignmentWriter.load({ bucket, signingKey, publisher: { publish: () => {} }, logger });

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => {});
  await nats?.stop();
});

describe('assignment shards', () => {
  it('moves a single-bucket store into its shards on open, keeping every seq and never overwriting a newer record', async () => {
    const nc = await link();
    const hosts = Array.from({ length: 60 }, (_, i) => `web-${i}`);
    // The previous layout: every host in flotilla_assignments, some written twice.
    const legacy = new JsonBucket<AssignmentRecord>(BUCKETS.assignments, await new Kvm(nc).create(BUCKETS.assignments, { history: 5 }), schema);
    const before = await writerOn(legacy);
    await before.assignMany(hosts, (apps) => ({ ...apps, web: release('1.0.0') }));
    await before.assignMany(hosts.slice(0, 10), (apps) => ({ ...apps, web: release('2.0.0') }));
    const seqs = new Map(hosts.map((h) => [h, before.current(h)?.record.seq]));
    expect(seqs.get('web-0')).toBe(2);
    expect(seqs.get('web-59')).toBe(1);

    // A record already in web-0's shard (a controller of this version wrote it since): newer, kept.
    const newer = { ...(await legacy.get('web-0'))!.value, seq: 7 };
    const shardName = `${BUCKETS.assignments}_${shardIndex('web-0', ASSIGNMENT_SHARDS)}`;
    await new JsonBucket<AssignmentRecord>(shardName, await new Kvm(nc).create(shardName, { history: 5 }), schema).create('web-0', newer);

    // Two controllers open the store at the same moment: both succeed, one of them (or both) moves it.
    const [a, b] = await Promise.all([openControllerStore(await link(), { logger }), openControllerStore(await link(), { logger })]);

    const jsm = await jetstreamManager(nc);
    await expect(jsm.streams.info(`KV_${BUCKETS.assignments}`)).rejects.toThrow(/stream not found/);
    for (const store of [a, b]) {
      const after = await writerOn(store.assignments);
      for (const h of hosts) expect(after.current(h)?.record.seq, h).toBe(h === 'web-0' ? 7 : seqs.get(h));
      expect(after.current('web-5')?.assignment.apps.web?.version).toBe('2.0.0');
      expect(after.current('web-50')?.assignment.apps.web?.version).toBe('1.0.0');
    }
    // Each host is in the one shard its id names, and the shards between them hold the fleet.
    const perShard = await Promise.all(
      Array.from({ length: ASSIGNMENT_SHARDS }, async (_, i) => {
        const kv = await new Kvm(nc).open(`${BUCKETS.assignments}_${i}`);
        const keys: string[] = [];
        for await (const k of await kv.keys()) keys.push(k);
        return keys;
      }),
    );
    perShard.forEach((keys, i) => {
      for (const k of keys) expect(shardIndex(k, ASSIGNMENT_SHARDS), k).toBe(i);
    });
    expect(perShard.flat().sort()).toEqual([...hosts].sort());
    expect(perShard.filter((keys) => keys.length > 0).length).toBeGreaterThan(4);

    // Opened again: nothing left to move, nothing changed.
    const again = await openControllerStore(await link(), { logger });
    expect((await again.assignments.get('web-0'))?.value.seq).toBe(7);
    expect((await again.assignments.keys()).length).toBe(hosts.length);
  });

  it('writes a step across the shards with each host compare-and-set on its own key', async () => {
    const store = await openControllerStore(await link(), { logger });
    const writer = await writerOn(store.assignments);
    const hosts = Array.from({ length: 200 }, (_, i) => `db-${i}`);
    await writer.assignMany(hosts, (apps) => ({ ...apps, db: release('1.0.0') }));
    await writer.assignMany(hosts, (apps) => ({ ...apps, db: release('1.1.0') }));
    // A second writer with a stale view (a deposed leader's cache) loses each race and reads afresh.
    const stale = await writerOn(store.assignments);
    await writer.assignMany(hosts.slice(0, 20), (apps) => ({ ...apps, db: release('1.2.0') }));
    await stale.assignMany(hosts.slice(0, 20), (apps) => ({ ...apps, db: release('1.3.0') }));
    for (const h of hosts.slice(0, 20)) {
      const e = await store.assignments.get(h);
      expect(e?.value.seq, h).toBe(4);
    }
    expect((await store.assignments.get('db-199'))?.value.seq).toBe(2);
  });
});
