import type { KV } from '@nats-io/kv';
import type { z } from 'zod';
import { ConflictError, type Logger } from '@flotilla/shared';
import { CONFLICT_KIND } from '../errors.js';
import { isFinished, type RolloutState } from '../engine/index.js';
import { JsonBucket, KvBucket, type Entry } from '../store/kv.js';
import { BUCKETS } from '../store/records.js';
import { rolloutStateCodec } from './state-codec.js';
import { activeKey, rolloutKey, rolloutSchemas, type ActiveRolloutRecord } from './records.js';

/** The rollouts' records in `flotilla_rollouts`, each a typed view of the one bucket (records.ts). */
export interface RolloutBuckets {
  /** Rollout states, in their own compact format (state-codec.ts). */
  readonly states: KvBucket<RolloutState>;
  readonly active: JsonBucket<ActiveRolloutRecord>;
}

export function rolloutBuckets(kv: KV, logger?: Logger): RolloutBuckets {
  const name = BUCKETS.rollouts;
  return Object.freeze({
    states: new KvBucket(name, kv, rolloutStateCodec(), logger),
    active: new JsonBucket<ActiveRolloutRecord>(name, kv, rolloutSchemas.active as z.ZodType<ActiveRolloutRecord>, logger),
  });
}

/** Tries of a claim that keeps losing compare-and-set races before giving up. */
const CLAIM_ATTEMPTS = 5;

/**
 * Rollout states and the one-active-rollout claims in KV. The claim is taken and freed with
 * compare-and-set; a rollout's state is written only by the controller driving it, at the
 * revision it last wrote. (The app's history and event log are the app ledger's.)
 */
export class RolloutStore {
  constructor(readonly buckets: RolloutBuckets) {}

  /**
   * Takes the app's one-active-rollout claim for `id`. Refused (ConflictError, FAILED_PRECONDITION)
   * while the claim names a rollout that has not finished; a claim left by a rollout that
   * finished, or whose state was never written (a crash right after claiming), is taken over.
   */
  async claim(app: string, id: string, nowMs: number): Promise<void> {
    const key = activeKey(app);
    const record: ActiveRolloutRecord = { app, rolloutId: id, atMs: nowMs };
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
      const current = await this.buckets.active.get(key);
      try {
        if (current === null) {
          await this.buckets.active.create(key, record);
          return;
        }
        const holder = current.value.rolloutId;
        if (holder !== null && holder !== id) {
          const state = await this.buckets.states.get(rolloutKey(holder));
          if (state !== null && !isFinished(state.value.status)) {
            throw new ConflictError(
              `rollout ${holder} of ${app} is still ${state.value.status} (${state.value.spec.app}@${state.value.spec.version}); ` +
                `one rollout at a time per app: wait for it, or abort it (flotilla rollout abort ${holder})`,
              { details: { kind: CONFLICT_KIND.state, rolloutId: holder } },
            );
          }
        }
        await this.buckets.active.update(key, record, current.revision);
        return;
      } catch (err) {
        // Lost a race for the claim: read it again and decide again.
        if (err instanceof ConflictError && err.details.kind !== CONFLICT_KIND.state) continue;
        throw err;
      }
    }
    throw new ConflictError(`cannot claim the active rollout of ${app}: the claim keeps changing`, {
      details: { kind: CONFLICT_KIND.state },
    });
  }

  /** Frees the app's claim if `id` still holds it. */
  async free(app: string, id: string, nowMs: number): Promise<void> {
    await this.buckets.active.updateWithRetry(activeKey(app), (current) => {
      if (current === null || current.value.rolloutId !== id) return undefined;
      return { ...current.value, rolloutId: null, atMs: nowMs };
    });
  }

  /** Claims that name a rollout (active, or left by a crash before they were freed). */
  async claims(): Promise<ActiveRolloutRecord[]> {
    const entries = await this.buckets.active.list('active.*');
    return entries.map((e) => e.value).filter((r) => r.rolloutId !== null);
  }

  read(id: string): Promise<Entry<RolloutState> | null> {
    return this.buckets.states.get(rolloutKey(id));
  }

  create(state: RolloutState): Promise<number> {
    return this.buckets.states.create(rolloutKey(state.id), state);
  }

  /** Writes the state if the record is still at `revision` (ConflictError otherwise). */
  update(state: RolloutState, revision: number): Promise<number> {
    return this.buckets.states.update(rolloutKey(state.id), state, revision);
  }
}
