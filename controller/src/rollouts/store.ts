import type { KV } from '@nats-io/kv';
import type { z } from 'zod';
import { ConflictError, type Logger } from '@flotilla/shared';
import { KeyedMutex } from '../concurrency.js';
import { CONFLICT_KIND } from '../errors.js';
import { isFinished, type RolloutState } from '../rollout/index.js';
import { JsonBucket, KvBucket, type Entry } from '../store/kv.js';
import { BUCKETS } from '../store/records.js';
import { rolloutStateCodec } from './state-codec.js';
import {
  EVENTS_KEPT,
  HISTORY_ROLLOUTS_KEPT,
  HISTORY_STABLE_KEPT,
  activeKey,
  eventsKey,
  historyKey,
  revertKey,
  rolloutId,
  rolloutKey,
  rolloutSchemas,
  summarise,
  type ActiveRolloutRecord,
  type AppEventRecord,
  type AppEventsRecord,
  type AppHistoryRecord,
  type RevertRecord,
} from './records.js';

/** The kinds of record in `flotilla_rollouts`, each a typed view of the one bucket. */
export interface RolloutBuckets {
  /** Rollout states, in their own compact format (state-codec.ts). */
  readonly states: KvBucket<RolloutState>;
  readonly active: JsonBucket<ActiveRolloutRecord>;
  readonly history: JsonBucket<AppHistoryRecord>;
  readonly reverts: JsonBucket<RevertRecord>;
  readonly events: JsonBucket<AppEventsRecord>;
}

export function rolloutBuckets(kv: KV, logger?: Logger): RolloutBuckets {
  const name = BUCKETS.rollouts;
  return Object.freeze({
    states: new KvBucket(name, kv, rolloutStateCodec(), logger),
    active: new JsonBucket<ActiveRolloutRecord>(name, kv, rolloutSchemas.active as z.ZodType<ActiveRolloutRecord>, logger),
    history: new JsonBucket<AppHistoryRecord>(name, kv, rolloutSchemas.history as unknown as z.ZodType<AppHistoryRecord>, logger),
    reverts: new JsonBucket<RevertRecord>(name, kv, rolloutSchemas.revert as unknown as z.ZodType<RevertRecord>, logger),
    events: new JsonBucket<AppEventsRecord>(name, kv, rolloutSchemas.events as unknown as z.ZodType<AppEventsRecord>, logger),
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
  /** Appends to one app's event log queue here, so that a storm of alarms does not race itself on KV. */
  private readonly appends = new KeyedMutex();

  constructor(readonly buckets: RolloutBuckets) {}

  /** Hands out the app's next rollout id (its stamp from `nowMs`, see rolloutId). */
  async nextId(app: string, nowMs: number): Promise<string> {
    let seq = 0;
    await this.buckets.history.updateWithRetry(historyKey(app), (current) => {
      const record = current?.value ?? emptyHistory(app);
      seq = record.lastSeq + 1;
      return { ...record, lastSeq: seq };
    });
    return rolloutId(app, seq, nowMs);
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

  /** The app's latest revert outside the engine, with its revision (for compare-and-set). */
  readRevert(app: string): Promise<Entry<RevertRecord> | null> {
    return this.buckets.reverts.get(revertKey(app));
  }

  /**
   * Writes a revert record if the key is still as read (`revision` null: it must not exist).
   * A ConflictError means another writer got there first.
   */
  writeRevert(record: RevertRecord, revision: number | null): Promise<number> {
    const key = revertKey(record.app);
    return revision === null ? this.buckets.reverts.create(key, record) : this.buckets.reverts.update(key, record, revision);
  }

  /** Reverts left half-done (a controller that stopped during one). */
  async unfinishedReverts(): Promise<Entry<RevertRecord>[]> {
    return (await this.buckets.reverts.list('revert.*')).filter((e) => e.value.status === 'reverting');
  }

  /**
   * Appends an event to the app's log (the oldest fall off past EVENTS_KEPT) and returns it
   * with its id. Appends for one app queue in this process; other writers are met with
   * compare-and-set.
   */
  appendEvent(event: Omit<AppEventRecord, 'id'>): Promise<AppEventRecord> {
    const app = event.app;
    return this.appends.run(app, async () => {
      let stored: AppEventRecord | undefined;
      await this.buckets.events.updateWithRetry(eventsKey(app), (current) => {
        const record = current?.value ?? { app, lastSeq: 0, events: [] };
        const seq = record.lastSeq + 1;
        stored = { ...event, id: `${app}-e${seq}` };
        return { app, lastSeq: seq, events: [...record.events, stored].slice(-EVENTS_KEPT) };
      });
      return stored as AppEventRecord;
    });
  }

  /** The app's events, oldest first. */
  async events(app: string): Promise<AppEventRecord[]> {
    return (await this.buckets.events.get(eventsKey(app)))?.value.events ?? [];
  }

  /** Every app's events, oldest first by time. */
  async allEvents(): Promise<AppEventRecord[]> {
    const all = (await this.buckets.events.list('events.*')).flatMap((e) => e.value.events);
    return all.sort((a, b) => a.atMs - b.atMs || (a.id < b.id ? -1 : 1));
  }
}
