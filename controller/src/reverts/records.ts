import { z } from 'zod';
import { appEventSchema, type NewAppEvent } from '../apps/records.js';

/*
 * `revert.<app>` in `flotilla_rollouts`: the app's latest revert. Its one writer is the revert
 * path (revert-path.ts).
 */

/** What started a revert. */
export type RevertCause =
  /** An alarm during a rollout, inside a finished rollout's watch window, or outside it by the app's policy. */
  | 'alarm'
  /** An operator's `flotilla rollback`. */
  | 'rollback'
  /** A rollout step that failed (health gate, install, crash loop, silent hosts): the engine stopped it. */
  | 'failed-step';

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
   * `stable:<version>` (by policy, outside any window), `rollback:<revert id>`,
   * `failed-step:<id>` (a step of that rollout failed). A failed step answers no alarm: it holds
   * nothing back, and an alarm about its rollout later is judged as if it were not there.
   */
  episode: string;
  cause: RevertCause;
  /** `alarm:<source>`, `operator:<name>`, or `engine` for a failed step. */
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
  /**
   * Hosts given the target by this record: for a failed step, the hosts its rollout touched; for
   * an alarm during a rollout, the app's other hosts (the rollout reverts its own).
   */
  hostIds: string[];
  status: 'reverting' | 'done';
  startedAtMs: number;
  finishedAtMs: number | null;
  /**
   * Until then, alarms that no newer rollout explains change nothing more: they are the tail of
   * the storm this revert answered, not news about the version it went back to.
   */
  holdUntilMs: number;
  /**
   * The event the revert's cause goes into the log as (the alarm or the rollback), written in
   * this same record so that a crash cannot keep one without the other: the revert path appends
   * it before it marks the revert done, and a revert finished after a crash appends it then.
   * Absent in records of older controllers.
   */
  event?: NewAppEvent;
}


export const revertKey = (app: string): string => `revert.${app}`;

const count = z.number().int().nonnegative();

/** The shape a stored revert record must have; loose, so that fields a newer controller added survive. */
export const revertSchema = z
  .object({
    app: z.string(),
    id: z.string(),
    seq: count,
    episode: z.string(),
    cause: z.enum(['alarm', 'rollback', 'failed-step']),
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
    event: appEventSchema.omit({ id: true }).optional(),
  })
  .loose();
