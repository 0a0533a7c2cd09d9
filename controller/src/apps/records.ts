import { z } from 'zod';
import { FINISHED_STATUSES, type RolloutState, type RolloutStatus } from '../engine/index.js';

/*
 * The app ledger's records in `flotilla_rollouts` (the bucket is shared with the rollouts'
 * states and claims and the revert records; each key prefix has one writer):
 *   history.<app>    the app's rollout summaries and stable periods, and its rollout id counter
 *   events.<app>     the app's event log: alarms and rollbacks, bounded
 * The app's stable, previous stable and bad versions are its `flotilla_apps` record
 * (store/records.ts, AppRecord).
 */

/** One rollout as `rollout list` and `history` show it: small, kept after the state is gone. */
export interface RolloutSummaryRecord {
  id: string;
  app: string;
  version: string;
  status: RolloutStatus;
  stableVersion: string | null;
  selector: string;
  hosts: number;
  failed: number;
  passed: number;
  steps: number;
  currentStep: number;
  createdBy: string;
  createdAtMs: number;
  finishedAtMs: number | null;
  endReason: string | null;
  endedBy: string | null;
  /** How long after the end alarms still revert it (absent in records of older controllers). */
  watchWindowMs?: number;
  autoRevert?: boolean;
}

/** A time a version was the app's stable version. */
export interface StablePeriodRecord {
  version: string;
  sinceMs: number;
  /** Null while it still is. */
  untilMs: number | null;
  /** The rollout whose success made it stable (or the revert that went back to it). */
  rolloutId: string | null;
}

/** `history.<app>` */
export interface AppHistoryRecord {
  app: string;
  /** The number in the last rollout id handed out (`<app>-<n>`). */
  lastSeq: number;
  /** Oldest first. */
  stable: StablePeriodRecord[];
  /** Oldest first, the most recent HISTORY_ROLLOUTS_KEPT. */
  rollouts: RolloutSummaryRecord[];
}

/**
 * What an event did: an alarm's AlarmAction, for a rollback `rolled-back` / `unchanged`, for a
 * reconcile `store-behind` (hosts hold assignments the store lost, store-behind.ts).
 */
export type AppEventAction = 'reverted' | 'already-reverting' | 'stopped' | 'recorded' | 'rolled-back' | 'unchanged' | 'store-behind';

/**
 * One alarm, rollback, failed rollout step (the revert it caused) or reconcile with hosts'
 * evidence, as `flotilla events` shows it.
 */
export interface AppEventRecord {
  /** `<app>-e<n>`. */
  id: string;
  app: string;
  kind: 'alarm' | 'rollback' | 'failed-step' | 'reconcile';
  atMs: number;
  /** The alarm's source, `operator` for a rollback, `engine` for a failed step. */
  source: string;
  reason: string;
  severity: string | null;
  /** What the monitor sent, summarised (never the payload, never a secret). */
  summary: Record<string, unknown>;
  action: AppEventAction;
  rolloutId: string | null;
  revertId: string | null;
  fromVersion: string | null;
  toVersion: string | null;
  /** Hosts given a new assignment because of it. */
  hosts: number;
  message: string | null;
  actor: string | null;
}

/** An event before the log gives it its id. */
export type NewAppEvent = Omit<AppEventRecord, 'id'>;

/** `events.<app>` */
export interface AppEventsRecord {
  app: string;
  lastSeq: number;
  /** Oldest first, the most recent EVENTS_KEPT. */
  events: AppEventRecord[];
}

/** Events kept per app: enough for a storm and its aftermath, small enough for one KV value. */
export const EVENTS_KEPT = 200;
/** Rollout summaries kept per app; the oldest go first. */
export const HISTORY_ROLLOUTS_KEPT = 200;
/** Stable periods kept per app. */
export const HISTORY_STABLE_KEPT = 200;

export const historyKey = (app: string): string => `history.${app}`;
export const eventsKey = (app: string): string => `events.${app}`;

export function summarise(state: RolloutState): RolloutSummaryRecord {
  return {
    id: state.id,
    app: state.spec.app,
    version: state.spec.version,
    status: state.status,
    stableVersion: state.stableVersion,
    selector: state.spec.selector,
    hosts: state.hostCount,
    failed: state.counters.failed,
    passed: state.counters.passed,
    steps: state.steps.length,
    currentStep: state.currentStep,
    createdBy: state.spec.createdBy,
    createdAtMs: state.createdAtMs,
    finishedAtMs: state.finishedAtMs,
    endReason: state.endReason,
    endedBy: state.endedBy,
    watchWindowMs: state.spec.watchWindowMs,
    autoRevert: state.spec.autoRevert,
  };
}

const count = z.number().int().nonnegative();
const statuses = z.enum(['running', 'baking', 'paused', 'stabilising', 'reverting', ...FINISHED_STATUSES] as [
  RolloutStatus,
  ...RolloutStatus[],
]);

/** One event's shape; also what a revert record carries of the event it causes. */
export const appEventSchema = z
  .object({
    id: z.string(),
    app: z.string(),
    kind: z.enum(['alarm', 'rollback', 'failed-step', 'reconcile']),
    atMs: count,
    source: z.string(),
    reason: z.string(),
    severity: z.string().nullable(),
    summary: z.record(z.string(), z.unknown()),
    action: z.string(),
    rolloutId: z.string().nullable(),
    revertId: z.string().nullable(),
    fromVersion: z.string().nullable(),
    toVersion: z.string().nullable(),
    hosts: count,
    message: z.string().nullable(),
    actor: z.string().nullable(),
  })
  .loose();

/** Shapes a stored value must have; loose, so that fields a newer controller added survive. */
export const ledgerSchemas = {
  history: z
    .object({
      app: z.string(),
      lastSeq: count,
      stable: z.array(
        z.object({ version: z.string(), sinceMs: count, untilMs: count.nullable(), rolloutId: z.string().nullable() }).loose(),
      ),
      rollouts: z.array(
        z
          .object({
            id: z.string(),
            app: z.string(),
            version: z.string(),
            status: statuses,
            stableVersion: z.string().nullable(),
            createdAtMs: count,
            finishedAtMs: count.nullable(),
          })
          .loose(),
      ),
    })
    .loose(),
  events: z.object({ app: z.string(), lastSeq: count, events: z.array(appEventSchema) }).loose(),
};
