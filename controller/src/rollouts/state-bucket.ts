import type { KV } from '@nats-io/kv';
import { ConflictError, FlotillaError, InternalError, UnavailableError, errorMessage, type Logger } from '@flotilla/shared';
import { mapConcurrent } from '../concurrency.js';
import type { RolloutState } from '../rollout/index.js';
import { isRevisionConflict, type Entry } from '../store/kv.js';
import { decodeRolloutState, encodeRolloutState, type EncodeOptions } from './state-codec.js';

/**
 * Rollout states in their KV bucket, in the stored format of state-codec.ts: the same calls and
 * errors as the JSON buckets (ConflictError for a lost compare-and-set race, UnavailableError
 * for NATS, InternalError for a value that cannot be read), plus ValidationError for a state
 * too large for one value.
 */
export class RolloutStateBucket {
  constructor(
    readonly name: string,
    private readonly kv: KV,
    private readonly logger?: Logger,
    private readonly encoding: EncodeOptions = {},
  ) {}

  async get(key: string): Promise<Entry<RolloutState> | null> {
    const entry = await this.call('read', key, () => this.kv.get(key));
    if (!entry || entry.operation !== 'PUT') return null;
    return { key, value: this.decode(key, entry.value), revision: entry.revision };
  }

  /** Writes the state only if `key` holds nothing; otherwise ConflictError (kind 'duplicate'). */
  async create(key: string, state: RolloutState): Promise<number> {
    const bytes = encodeRolloutState(state, this.encoding);
    try {
      return await this.kv.create(key, bytes);
    } catch (err) {
      if (isRevisionConflict(err)) {
        throw new ConflictError(`${this.name}: "${key}" already exists`, { cause: err, details: { kind: 'duplicate', bucket: this.name, key } });
      }
      throw this.unavailable('create', key, err);
    }
  }

  /** Writes the state only if `key` is still at `revision`; otherwise ConflictError (kind 'revision'). */
  async update(key: string, state: RolloutState, revision: number): Promise<number> {
    const bytes = encodeRolloutState(state, this.encoding);
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

  /** Every stored state under the filter; values that cannot be read are logged and skipped. */
  async list(filter = 'rollout.>'): Promise<Entry<RolloutState>[]> {
    const keys = await this.call('list', filter, async () => {
      const out: string[] = [];
      for await (const k of await this.kv.keys(filter)) out.push(k);
      return out;
    });
    const entries = await mapConcurrent(keys, 4, async (key) => {
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
    return entries.filter((e): e is Entry<RolloutState> => e !== null);
  }

  private decode(key: string, bytes: Uint8Array): RolloutState {
    try {
      return decodeRolloutState(bytes, key);
    } catch (err) {
      if (err instanceof InternalError) throw new InternalError(`${this.name}: ${err.message}`, { cause: err });
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
