import { z } from 'zod';
import { ValidationError } from '@flotilla/shared';
import { FINISHED_STATUSES, type RolloutStatus } from '../engine/index.js';

/*
 * What `flotilla_rollouts` holds, by key prefix, and who writes it:
 *   rollout.<id>     the rollout's whole state (RolloutState, the engine's own record), in the
 *                    compact format of state-codec.ts: the rollout driving it (rollouts/)
 *   active.<app>     which rollout of the app is active: the one-at-a-time claim, taken and freed
 *                    with compare-and-set: the rollout registry (rollouts/)
 *   history.<app>    the app's rollout summaries and stable periods, and its rollout id counter:
 *                    the app ledger (apps/records.ts)
 *   events.<app>     the app's event log: alarms and rollbacks, bounded: the app ledger
 *   revert.<app>     the app's latest revert: the revert path (reverts/records.ts)
 */

/** `active.<app>`: the app's active rollout, or none (null) once it finished. */
export interface ActiveRolloutRecord {
  app: string;
  rolloutId: string | null;
  /** When the claim was last taken or freed. */
  atMs: number;
}

export const rolloutKey = (id: string): string => `rollout.${id}`;
export const activeKey = (app: string): string => `active.${app}`;

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
};
