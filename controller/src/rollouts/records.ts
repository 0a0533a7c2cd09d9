import { z } from 'zod';
import { ValidationError } from '@flotilla/shared';
import { FINISHED_STATUSES, type RolloutState, type RolloutStatus } from '../rollout/index.js';

/*
 * What `flotilla_rollouts` holds, by key prefix:
 *   rollout.<id>     the rollout's whole state (RolloutState, the engine's own record), in the
 *                    compact format of state-codec.ts
 *   active.<app>     which rollout of the app is active: the one-at-a-time claim, taken and freed
 *                    with compare-and-set
 *   history.<app>    the app's rollout summaries and stable periods, and its rollout id counter
 *   revert.<app>     the app's latest revert outside the engine (alarm in a watch window, policy,
 *                    rollback): the compare-and-set record that makes a storm of alarms one revert
 *   events.<app>     the app's event log: alarms and rollbacks, bounded
 */

/** `active.<app>`: the app's active rollout, or none (null) once it finished. */
export interface ActiveRolloutRecord {
  app: string;
  rolloutId: string | null;
  /** When the claim was last taken or freed. */
  atMs: number;
}

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
  /** The rollout whose success made it stable. */
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

/** What started a revert outside the engine. */
export type RevertCause =
  /** An alarm inside a finished rollout's watch window, or outside it by the app's policy. */
  | 'alarm'
  /** An operator's `flotilla rollback`. */
  | 'rollback';

/**
 * `revert.<app>`: the app's latest revert of the whole fleet to one version. Written (compare-
 * and-set) before any of its assignments, so that of concurrent alarms exactly one reverts, and
 * a controller that dies half-way finishes it at start.
 */
export interface RevertRecord {
  app: string;
  /** `<app>-r<n>`. */
  id: string;
  /** The number in the id; the next revert takes the next one. */
  seq: number;
  /**
   * What the revert answers, so that a later alarm about the same thing changes nothing:
   * `rollout:<id>` (an alarm about that rollout, while it ran or in its watch window),
   * `stable:<version>` (by policy, outside any window), `rollback:<revert id>`.
   */
  episode: string;
  cause: RevertCause;
  /** `alarm:<source>` or `operator:<name>`. */
  actor: string;
  reason: string;
  /** The version left behind; null when there is none (hosts already moved back). */
  fromVersion: string | null;
  /**
   * The version this revert marks bad: the one left behind, except for a rollback to a version
   * the operator named (going somewhere says nothing against where the app was).
   */
  badVersion: string | null;
  toVersion: string;
  rolloutId: string | null;
  /** Hosts given the target by this record (the rollout engine reverts its own hosts). */
  hostIds: string[];
  status: 'reverting' | 'done';
  startedAtMs: number;
  finishedAtMs: number | null;
  /**
   * Until then, alarms that no newer rollout explains change nothing more: they are the tail of
   * the storm this revert answered, not news about the version it went back to.
   */
  holdUntilMs: number;
}

/**
 * What an event did: an alarm's AlarmAction, for a rollback `rolled-back` / `unchanged`, for a
 * reconcile `store-behind` (hosts hold assignments the store lost, store-behind.ts).
 */
export type AppEventAction =
  | 'reverted'
  | 'already-reverting'
  | 'stopped'
  | 'recorded'
  | 'rolled-back'
  | 'unchanged'
  | 'store-behind';

/** One alarm, rollback or reconcile with hosts' evidence, as `flotilla events` shows it. */
export interface AppEventRecord {
  /** `<app>-e<n>`. */
  id: string;
  app: string;
  kind: 'alarm' | 'rollback' | 'reconcile';
  atMs: number;
  /** The alarm's source, or `operator` for a rollback. */
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

export const rolloutKey = (id: string): string => `rollout.${id}`;
export const activeKey = (app: string): string => `active.${app}`;
export const historyKey = (app: string): string => `history.${app}`;
export const revertKey = (app: string): string => `revert.${app}`;
export const eventsKey = (app: string): string => `events.${app}`;

const ROLLOUT_ID = /^([a-z0-9][a-z0-9_-]{0,62})-(\d{1,12})(?:-([a-z]{7}))?$/;

/** Letters in a rollout id's time stamp: seconds since 1970 in base 26 fit 7 letters until 2224. */
const STAMP_LETTERS = 7;

/**
 * Rollout ids are `<app>-<n>-<stamp>` (web-12-fbtqkxa): n counts the app's rollouts from 1, and
 * the stamp spells the second the id was handed out in letters (base 26, fixed width, so later
 * ids sort later). The counter lives in KV; a store that goes back in time (a power loss, a
 * restored backup) hands out an n again, but not in the same second, so an id is never reused.
 * Letters only, so an id never reads as `<app>-<n>` of an app whose name ends in a number.
 */
export function rolloutId(app: string, seq: number, nowMs: number): string {
  let rest = Math.max(0, Math.floor(nowMs / 1000));
  let stamp = '';
  for (let i = 0; i < STAMP_LETTERS; i++) {
    stamp = String.fromCharCode(97 + (rest % 26)) + stamp;
    rest = Math.floor(rest / 26);
  }
  return `${app}-${seq}-${stamp}`;
}

/** The app a rollout id belongs to; ValidationError for something that is not a rollout id. */
export function appOfRolloutId(id: string): string {
  const m = ROLLOUT_ID.exec(id);
  if (!m) throw new ValidationError(`"${id}" is not a rollout id (they look like web-12-fbtqkxa)`);
  return m[1] as string;
}

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

/*
 * Shapes a stored value must have. The rollout state is checked only where the I/O layer relies
 * on it (the engine's own fields pass through as they are), and loose, so that fields a newer
 * controller added survive. `rollout` is the state's first stored format (its plain JSON); the
 * codec checks the current one against it with the hosts swapped for their columns.
 */
export const rolloutSchemas = {
  rollout: z
    .object({
      schema: z.literal(1),
      id: z.string(),
      spec: z.object({ app: z.string(), version: z.string(), selector: z.string(), createdBy: z.string() }).loose(),
      status: statuses,
      stableVersion: z.string().nullable(),
      hosts: z.array(z.object({ hostId: z.string(), state: z.string() }).loose()),
      steps: z.array(z.object({ index: count, hostIds: z.array(z.string()) }).loose()),
      log: z.array(z.object({ atMs: count, kind: z.string(), actor: z.string(), message: z.string() }).loose()),
      createdAtMs: count,
      updatedAtMs: count,
      finishedAtMs: count.nullable(),
    })
    .loose(),
  active: z.object({ app: z.string(), rolloutId: z.string().nullable(), atMs: count }).loose(),
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
  revert: z
    .object({
      app: z.string(),
      id: z.string(),
      seq: count,
      episode: z.string(),
      cause: z.enum(['alarm', 'rollback']),
      actor: z.string(),
      reason: z.string(),
      fromVersion: z.string().nullable(),
      badVersion: z.string().nullable(),
      toVersion: z.string(),
      rolloutId: z.string().nullable(),
      hostIds: z.array(z.string()),
      status: z.enum(['reverting', 'done']),
      startedAtMs: count,
      finishedAtMs: count.nullable(),
      holdUntilMs: count,
    })
    .loose(),
  events: z
    .object({
      app: z.string(),
      lastSeq: count,
      events: z.array(
        z
          .object({
            id: z.string(),
            app: z.string(),
            kind: z.enum(['alarm', 'rollback', 'reconcile']),
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
          .loose(),
      ),
    })
    .loose(),
};
