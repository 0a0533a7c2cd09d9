import type { KV, KvEntry } from '@nats-io/kv';
import type { z } from 'zod';
import { JsonBucket } from './kv.js';

/**
 * An in-memory stand-in for the part of a JetStream KV bucket JsonBucket uses, with the same
 * compare-and-set behaviour (revisions grow per bucket, "wrong last sequence" on a stale
 * write). For unit tests of code built on the store (hosts, assignments, rollouts), which must
 * not touch the network.
 */
export function memoryKv(bucket = 'memory'): KV & { writes: number } {
  const entries = new Map<string, { value: Uint8Array; revision: number; operation: 'PUT' | 'DEL' }>();
  let revision = 0;
  const decoder = new TextDecoder();
  const conflict = (key: string, expected: number) =>
    Object.assign(new Error(`wrong last sequence: ${expected} for ${key}`), { code: 10071 });
  const toBytes = (data: unknown) => (typeof data === 'string' ? new TextEncoder().encode(data) : (data as Uint8Array));

  const write = (key: string, data: unknown, previous: number | undefined, operation: 'PUT' | 'DEL' = 'PUT') => {
    const current = entries.get(key);
    if (previous !== undefined && (current?.revision ?? 0) !== previous) throw conflict(key, previous);
    revision += 1;
    kv.writes += 1;
    entries.set(key, { value: toBytes(data), revision, operation });
    return revision;
  };

  const kv = {
    writes: 0,
    async get(key: string): Promise<KvEntry | null> {
      const e = entries.get(key);
      if (!e) return null;
      return {
        bucket,
        key,
        value: e.value,
        revision: e.revision,
        operation: e.operation,
        created: new Date(),
        length: e.value.length,
        rawKey: key,
        json: <T>() => JSON.parse(decoder.decode(e.value)) as T,
        string: () => decoder.decode(e.value),
      };
    },
    async create(key: string, data: unknown): Promise<number> {
      const current = entries.get(key);
      if (current && current.operation === 'PUT') throw conflict(key, 0);
      return write(key, data, current?.revision ?? 0);
    },
    async update(key: string, data: unknown, version: number): Promise<number> {
      return write(key, data, version);
    },
    async put(key: string, data: unknown): Promise<number> {
      return write(key, data, undefined);
    },
    async delete(key: string): Promise<void> {
      if (entries.has(key)) write(key, new Uint8Array(), undefined, 'DEL');
    },
    async keys(filter?: string) {
      const pattern = filter ? subjectPattern(filter) : null;
      const live = [...entries].filter(([k, e]) => e.operation === 'PUT' && (!pattern || pattern.test(k))).map(([k]) => k);
      return (async function* () {
        yield* live;
      })();
    },
  };
  return kv as unknown as KV & { writes: number };
}

/** A JsonBucket over a fresh memoryKv. */
export function memoryBucket<T>(name: string, schema: z.ZodType<T>): { bucket: JsonBucket<T>; kv: KV & { writes: number } } {
  const kv = memoryKv(name);
  return { bucket: new JsonBucket<T>(name, kv, schema), kv };
}

/** NATS subject wildcards: `*` one token, `>` the rest. */
function subjectPattern(filter: string): RegExp {
  const parts = filter.split('.').map((t) => (t === '*' ? '[^.]+' : t === '>' ? '.+' : t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${parts.join('\\.')}$`);
}
