import { z } from 'zod';
import { ValidationError } from '@flotilla/shared';
import { FINISHED_STATUSES, type RolloutState, type RolloutStatus } from '../rollout/index.js';

/*
 * What `flotilla_rollouts` holds, by key prefix:
 *   rollout.<id>     the rollout's whole state (RolloutState, the engine's own record)
 *   active.<app>     which rollout of the app is active: the one-at-a-time claim, taken and freed
 *                    with compare-and-set
 *   history.<app>    the app's rollout summaries and stable periods, and its rollout id counter
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

/** Rollout summaries kept per app; the oldest go first. */
export const HISTORY_ROLLOUTS_KEPT = 200;
/** Stable periods kept per app. */
export const HISTORY_STABLE_KEPT = 200;

export const rolloutKey = (id: string): string => `rollout.${id}`;
export const activeKey = (app: string): string => `active.${app}`;
export const historyKey = (app: string): string => `history.${app}`;

const ROLLOUT_ID = /^([a-z0-9][a-z0-9_-]{0,62})-(\d{1,12})$/;

/** Rollout ids are `<app>-<n>`, n counting the app's rollouts from 1: short enough to type. */
export function rolloutId(app: string, seq: number): string {
  return `${app}-${seq}`;
}

/** The app a rollout id belongs to; ValidationError for something that is not a rollout id. */
export function appOfRolloutId(id: string): string {
  const m = ROLLOUT_ID.exec(id);
  if (!m) throw new ValidationError(`"${id}" is not a rollout id (they look like web-12)`);
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
 * controller added survive.
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
};
