import { KvWatchInclude, type KV } from '@nats-io/kv';
import type { z } from 'zod';
import { ConflictError, FlotillaError, InternalError, UnavailableError, errorMessage, type Logger } from '@flotilla/shared';
import { mapConcurrent } from '../concurrency.js';

/** A stored value with the KV revision it was read at (the token for compare-and-set). */
export interface Entry<T> {
  readonly key: string;
  readonly value: T;
  readonly revision: number;
}

export interface UpdateOptions {
  /** Read-modify-write rounds before giving up on a contended key. @default 8 */
  attempts?: number;
}

/**
 * What `updateWithRetry` does with a key: return the new value, or `undefined` to leave the
 * key as it is. It may run several times (once per lost race), so it must not have side effects.
 */
export type Mutation<T> = (current: Entry<T> | null) => T | undefined;

const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);

/** True for JetStream's "wrong last sequence": someone else wrote the key since we read it. */
export function isRevisionConflict(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && WRONG_LAST_SEQUENCE.has(code)) return true;
  return /wrong last sequence/i.test(errorMessage(err));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * How a bucket's values are stored. `decode` throws an InternalError naming the key when the
 * bytes are not a value of the shape (the bucket adds its own name); `encode` may refuse a value
 * with a FlotillaError (one too large for a KV value, say).
 */
export interface ValueCodec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array, key: string): T;
}

/** JSON records checked against a zod schema on the way in. */
export function jsonCodec<T>(schema: z.ZodType<T>): ValueCodec<T> {
  return {
    encode: (value) => encoder.encode(JSON.stringify(value)),
    decode: (bytes, key) => {
      let raw: unknown;
      try {
        raw = JSON.parse(decoder.decode(bytes));
      } catch (err) {
        throw new InternalError(`value of "${key}" is not JSON`, { cause: err });
      }
      const r = schema.safeParse(raw);
      if (!r.success) {
        const issue = r.error.issues[0];
        throw new InternalError(`value of "${key}" is malformed (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'unknown problem'})`);
      }
      return r.data;
    },
  };
}

/**
 * What code built on the store needs of a bucket of records: one JetStream KV bucket (KvBucket),
 * or records spread over several by key (ShardedBucket, sharded.ts). Revisions are per key's
 * bucket: a revision read from `get` is the one `update` takes for the same key.
 */
export interface RecordBucket<T> {
  readonly name: string;
  get(key: string): Promise<Entry<T> | null>;
  create(key: string, value: T): Promise<number>;
  update(key: string, value: T, revision: number): Promise<number>;
  put(key: string, value: T): Promise<number>;
  delete(key: string): Promise<void>;
  keys(filter?: string): Promise<string[]>;
  watchUpdates(onChange: (entry: Entry<T>) => void): Promise<() => void>;
  list(filter?: string): Promise<Entry<T>[]>;
  updateWithRetry(key: string, mutate: Mutation<T>, opts?: UpdateOptions): Promise<Entry<T> | null>;
}

/**
 * One JetStream KV bucket of records of one type, stored by a codec. Writes that race use the
 * revision (compare-and-set); a lost race is a ConflictError, any other NATS failure an
 * UnavailableError, and a stored value that does not decode an InternalError naming the key.
 */
export class KvBucket<T> implements RecordBucket<T> {
  constructor(
    readonly name: string,
    private readonly kv: KV,
    private readonly codec: ValueCodec<T>,
    private readonly logger?: Logger,
  ) {}

  /** The live value under `key`, or null when there is none (never written, or deleted). */
  async get(key: string): Promise<Entry<T> | null> {
    const entry = await this.call('read', key, () => this.kv.get(key));
    if (!entry || entry.operation !== 'PUT') return null;
    return { key, value: this.decode(entry.key, entry.value), revision: entry.revision };
  }

  /** Writes `value` only if `key` holds nothing; otherwise ConflictError (kind 'duplicate'). */
  async create(key: string, value: T): Promise<number> {
    const bytes = this.codec.encode(value);
    try {
      return await this.kv.create(key, bytes);
    } catch (err) {
      if (isRevisionConflict(err)) {
        throw new ConflictError(`${this.name}: "${key}" already exists`, {
          cause: err,
          details: { kind: 'duplicate', bucket: this.name, key },
        });
      }
      throw this.unavailable('create', key, err);
    }
  }

  /** Writes `value` only if `key` is still at `revision`; otherwise ConflictError (kind 'revision'). */
  async update(key: string, value: T, revision: number): Promise<number> {
    const bytes = this.codec.encode(value);
    try {
      return await this.kv.update(key, bytes, revision);
    } catch (err) {
      if (isRevisionConflict(err)) {
        throw new ConflictError(`${this.name}: "${key}" changed since revision ${revision}`, {
          cause: err,
          details: { kind: 'revision', bucket: this.name, key, revision },
        });
      }
      throw this.unavailable('update', key, err);
    }
  }

  /** Writes `value` whatever is there. Only for keys a single writer owns. */
  async put(key: string, value: T): Promise<number> {
    const bytes = this.codec.encode(value);
    return this.call('write', key, () => this.kv.put(key, bytes));
  }

  async delete(key: string): Promise<void> {
    await this.call('delete', key, () => this.kv.delete(key));
  }

  /** Keys with a live value, optionally filtered by a subject-style pattern (`web.>`). */
  async keys(filter?: string): Promise<string[]> {
    return this.call('list', filter ?? '>', async () => {
      const out: string[] = [];
      const it = await this.kv.keys(filter);
      for await (const k of it) out.push(k);
      return out;
    });
  }

  /**
   * Calls `onChange` with every value written from now on (another controller's writes too);
   * values that do not decode are logged and skipped. Resolves with the function that stops it.
   */
  async watchUpdates(onChange: (entry: Entry<T>) => void): Promise<() => void> {
    const it = await this.call('watch', '>', () => this.kv.watch({ include: KvWatchInclude.UpdatesOnly }));
    void (async () => {
      for await (const e of it) {
        if (e.operation !== 'PUT') continue;
        try {
          onChange({ key: e.key, value: this.decode(e.key, e.value), revision: e.revision });
        } catch (err) {
          this.logger?.warn({ bucket: this.name, key: e.key, err }, 'skipping malformed record');
        }
      }
    })().catch((err: unknown) => this.logger?.warn({ bucket: this.name, err }, 'bucket watch ended'));
    return () => it.stop();
  }

  /** Every live entry (optionally filtered). Values of the wrong shape are logged and skipped. */
  async list(filter?: string): Promise<Entry<T>[]> {
    const keys = await this.keys(filter);
    const entries = await mapConcurrent(keys, 16, async (key) => {
      try {
        return await this.get(key);
      } catch (err) {
        if (err instanceof InternalError) {
          this.logger?.warn({ bucket: this.name, key, err }, 'skipping malformed record');
          return null;
        }
        throw err;
      }
    });
    return entries.filter((e): e is Entry<T> => e !== null);
  }

  /**
   * Read-modify-write with compare-and-set, retried when another writer got there first.
   * Returns the entry as written (or as found, when `mutate` left it unchanged; null if absent).
   */
  async updateWithRetry(key: string, mutate: Mutation<T>, opts: UpdateOptions = {}): Promise<Entry<T> | null> {
    const attempts = opts.attempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(key);
      const next = mutate(current);
      if (next === undefined) return current;
      try {
        const revision = current ? await this.update(key, next, current.revision) : await this.create(key, next);
        return { key, value: next, revision };
      } catch (err) {
        const lostRace = err instanceof ConflictError;
        if (!lostRace || attempt >= attempts) {
          if (lostRace) {
            throw new ConflictError(`${this.name}: gave up updating "${key}" after ${attempts} attempts (it keeps changing)`, {
              cause: err,
              details: { kind: 'state', bucket: this.name, key },
            });
          }
          throw err;
        }
        // A short, jittered pause lets the other writer finish instead of colliding again.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 10 * attempt)));
      }
    }
  }

  private decode(key: string, bytes: Uint8Array): T {
    try {
      return this.codec.decode(bytes, key);
    } catch (err) {
      if (err instanceof InternalError) throw new InternalError(`${this.name}: ${err.message}`, { cause: err.cause ?? err, details: { ...err.details } });
      throw err;
    }
  }

  private async call<R>(op: string, key: string, fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (err) {
      throw this.unavailable(op, key, err);
    }
  }

  private unavailable(op: string, key: string, err: unknown): FlotillaError {
    if (err instanceof FlotillaError) return err;
    return new UnavailableError(`cannot ${op} "${key}" in KV bucket ${this.name}: ${errorMessage(err)}`, {
      cause: err,
      details: { bucket: this.name, key },
    });
  }
}

/** A bucket of JSON records of one zod-checked shape. */
export class JsonBucket<T> extends KvBucket<T> {
  constructor(name: string, kv: KV, schema: z.ZodType<T>, logger?: Logger) {
    super(name, kv, jsonCodec(schema), logger);
  }
}
