import { z } from 'zod';
import { ValidationError, assignmentProofSchema, type Inventory, type Signed, type SignedAssignment } from '@flotilla/shared';

/** JetStream KV buckets holding the controller's durable state. */
export const BUCKETS = Object.freeze({
  hosts: 'flotilla_hosts',
  apps: 'flotilla_apps',
  artifacts: 'flotilla_artifacts',
  /** The records' name; stored in ASSIGNMENT_SHARDS buckets `flotilla_assignments_<i>`. */
  assignments: 'flotilla_assignments',
  /** Rollout states and claims, each app's history and event log, revert records: one key
   * prefix per kind, each with one writer (see rollouts/records.ts). */
  rollouts: 'flotilla_rollouts',
});

/**
 * `flotilla_assignments` is spread over this many buckets, `flotilla_assignments_0` …
 * `flotilla_assignments_7`, a host's record in the one its id hashes to (store/sharded.ts):
 * nats-server flushes different buckets' writes in parallel, one bucket's in turn. Part of the
 * store's format: every controller of a store must use the same count.
 */
export const ASSIGNMENT_SHARDS = 8;

/** Values kept per key: enough to see recent changes, small enough to stay cheap. */
export const BUCKET_HISTORY = 5;

/**
 * Values kept per key of `flotilla_rollouts`: one. A rollout's state grows with its hosts (about
 * 4 bytes a host once encoded, rollouts/state-codec.ts) and carries its own event log, so older
 * revisions would only cost storage.
 */
export const ROLLOUTS_BUCKET_HISTORY = 1;

export type HostState =
  | 'up' // heartbeats arrive (or the host has not yet missed enough of them)
  | 'down'; // missed `downAfterMissed` heartbeat intervals in a row

/** `flotilla_hosts[hostId]`: written on announce, label changes and up/down transitions only. */
export interface HostRecord {
  hostId: string;
  /** The labels selectors see: what the host claims, less what the label policy refuses, plus the operator's. */
  labels: Record<string, string>;
  /** Labels the host claimed and the label policy did not believe; absent when none. */
  refusedLabels?: Record<string, string>;
  /** Null for a host that has sent heartbeats but never an announce. */
  inventory: Inventory | null;
  heartbeatIntervalMs: number;
  firstSeenMs: number;
  /** 0 when the host never announced. */
  lastAnnounceMs: number;
  state: HostState;
  stateSinceMs: number;
}

/** A version an alarm reverted, or a rollback left: rolling it out again needs --force. */
export interface BadVersionRecord {
  version: string;
  atMs: number;
  /** Why, in words for operators (the alarm's reason, or the rollback's). */
  reason: string;
  /** `alarm:<source>` or `operator:<name>`. */
  by: string;
}

/** `flotilla_apps[app]` */
export interface AppRecord {
  name: string;
  stableVersion: string | null;
  stableSinceMs: number | null;
  createdAtMs: number;
  /**
   * The stable version before the current one (the most recent earlier stable version that is
   * not marked bad): where an alarm outside any watch window goes back to, by policy, and where
   * `flotilla rollback` goes when every host already runs the stable version. Absent in records
   * of older controllers (read as null).
   */
  previousStableVersion?: string | null;
  /** Absent: none. */
  badVersions?: BadVersionRecord[];
}

/** `flotilla_artifacts[<app>.<version>]` */
export interface ArtifactRecord {
  app: string;
  version: string;
  sha256: string;
  size: number;
  keyId: string;
  uploadedAtMs: number;
  /** The release signer's descriptor and signature, shipped to agents in assignments. */
  signed: Signed;
}

/** `flotilla_assignments[hostId]` */
export interface AssignmentRecord {
  hostId: string;
  /** The controller-key epoch `seq` counts in. Absent in older records: 1. */
  epoch?: number;
  seq: number;
  /** The controller-signed `Assignment` (shared/assignment.ts), with its proof when signed by a step's root. */
  signed: SignedAssignment;
  updatedAtMs: number;
  /** The fencing number of the leadership that wrote it (absent before there were leaders). */
  fence?: number;
}

/**
 * KV key of an artifact record. Versions may hold dots; they simply add tokens to the key. A
 * trailing dot would leave an empty token, which KV refuses, so such a version is refused here.
 */
export function artifactKey(app: string, version: string): string {
  if (version.endsWith('.')) throw new ValidationError(`version "${version}" is invalid: it must not end with '.'`);
  return `${app}.${version}`;
}

const count = z.number().int().nonnegative();
const signed = z.object({ payload: z.string(), keyId: z.string(), signature: z.string() });

/**
 * Shapes a stored value must have; a value that does not is reported, never trusted blindly.
 * Loose on purpose: fields a newer controller added survive a read-modify-write by this one.
 */
export const recordSchemas = {
  hosts: z.object({
    hostId: z.string(),
    labels: z.record(z.string(), z.string()),
    refusedLabels: z.record(z.string(), z.string()).optional(),
    inventory: z
      .object({
        hostname: z.string(),
        os: z.string(),
        arch: z.string(),
        kernel: z.string(),
        cpus: count,
        memTotalBytes: count,
        agentVersion: z.string(),
      })
      .nullable(),
    heartbeatIntervalMs: z.number().int().positive(),
    firstSeenMs: count,
    lastAnnounceMs: count,
    state: z.enum(['up', 'down']),
    stateSinceMs: count,
  }).loose(),
  apps: z.object({
    name: z.string(),
    stableVersion: z.string().nullable(),
    stableSinceMs: count.nullable(),
    createdAtMs: count,
    previousStableVersion: z.string().nullable().optional(),
    badVersions: z
      .array(z.object({ version: z.string(), atMs: count, reason: z.string(), by: z.string() }).loose())
      .optional(),
  }).loose(),
  artifacts: z.object({
    app: z.string(),
    version: z.string(),
    sha256: z.string(),
    size: count,
    keyId: z.string(),
    uploadedAtMs: count,
    signed,
  }).loose(),
  assignments: z.object({
    hostId: z.string(),
    seq: z.number().int().positive(),
    signed: signed.extend({ proof: assignmentProofSchema.optional() }),
    updatedAtMs: count,
    fence: z.number().int().nonnegative().optional(),
  }).loose(),
  // flotilla_rollouts holds several shapes of record under key prefixes: rollouts/records.ts.
} satisfies Record<Exclude<keyof typeof BUCKETS, 'rollouts'>, z.ZodType>;
