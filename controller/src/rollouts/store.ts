import type { KV } from '@nats-io/kv';
import type { z } from 'zod';
import { ConflictError, type Logger } from '@flotilla/shared';
import { CONFLICT_KIND } from '../errors.js';
import { isFinished, type RolloutState } from '../rollout/index.js';
import { JsonBucket, type Entry } from '../store/kv.js';
import { BUCKETS } from '../store/records.js';
import {
  HISTORY_ROLLOUTS_KEPT,
  HISTORY_STABLE_KEPT,
  activeKey,
  historyKey,
  rolloutId,
  rolloutKey,
  rolloutSchemas,
  summarise,
  type ActiveRolloutRecord,
  type AppHistoryRecord,
} from './records.js';

/** The three kinds of record in `flotilla_rollouts`, each a typed view of the one bucket. */
export interface RolloutBuckets {
  readonly states: JsonBucket<RolloutState>;
  readonly active: JsonBucket<ActiveRolloutRecord>;
  readonly history: JsonBucket<AppHistoryRecord>;
}

export function rolloutBuckets(kv: KV, logger?: Logger): RolloutBuckets {
  const name = BUCKETS.rollouts;
  return Object.freeze({
    states: new JsonBucket<RolloutState>(name, kv, rolloutSchemas.rollout as unknown as z.ZodType<RolloutState>, logger),
    active: new JsonBucket<ActiveRolloutRecord>(name, kv, rolloutSchemas.active as z.ZodType<ActiveRolloutRecord>, logger),
    history: new JsonBucket<AppHistoryRecord>(name, kv, rolloutSchemas.history as unknown as z.ZodType<AppHistoryRecord>, logger),
  });
}

/** Tries of a claim that keeps losing compare-and-set races before giving up. */
const CLAIM_ATTEMPTS = 5;

function emptyHistory(app: string): AppHistoryRecord {
  return { app, lastSeq: 0, stable: [], rollouts: [] };
}

/**
 * Rollout records in KV. Every write that can race (the claim, the id counter, history) is a
 * compare-and-set; a rollout's state is written only by the controller driving it, at the
 * revision it last wrote.
 */
export class RolloutStore {
  constructor(readonly buckets: RolloutBuckets) {}

  /** Hands out the app's next rollout id. */
  async nextId(app: string): Promise<string> {
    let seq = 0;
    await this.buckets.history.updateWithRetry(historyKey(app), (current) => {
      const record = current?.value ?? emptyHistory(app);
      seq = record.lastSeq + 1;
      return { ...record, lastSeq: seq };
    });
    return rolloutId(app, seq);
  }

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

  /** Records (or refreshes) the rollout's summary in its app's history. */
  async recordSummary(state: RolloutState): Promise<void> {
    const summary = summarise(state);
    await this.buckets.history.updateWithRetry(historyKey(summary.app), (current) => {
      const record = current?.value ?? emptyHistory(summary.app);
      const known = record.rollouts.some((r) => r.id === summary.id);
      const rollouts = known ? record.rollouts.map((r) => (r.id === summary.id ? summary : r)) : [...record.rollouts, summary];
      return { ...record, rollouts: rollouts.slice(-HISTORY_ROLLOUTS_KEPT) };
    });
  }

  /** Records that `version` became stable at `sinceMs` (idempotent per rollout). */
  async recordStable(app: string, version: string, sinceMs: number, byRollout: string | null): Promise<void> {
    await this.buckets.history.updateWithRetry(historyKey(app), (current) => {
      const record = current?.value ?? emptyHistory(app);
      const last = record.stable[record.stable.length - 1];
      if (last && last.version === version && last.untilMs === null) return undefined;
      const stable = record.stable.map((p) => (p.untilMs === null ? { ...p, untilMs: sinceMs } : p));
      stable.push({ version, sinceMs, untilMs: null, rolloutId: byRollout });
      return { ...record, stable: stable.slice(-HISTORY_STABLE_KEPT) };
    });
  }

  async history(app: string): Promise<AppHistoryRecord> {
    return (await this.buckets.history.get(historyKey(app)))?.value ?? emptyHistory(app);
  }

  async histories(): Promise<AppHistoryRecord[]> {
    return (await this.buckets.history.list('history.*')).map((e) => e.value);
  }
}
