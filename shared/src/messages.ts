import { z } from 'zod';
import { ValidationError } from './errors.js';
import { APP_NAME, HOST_ID, LABEL_KEY, LABEL_VALUE, VERSION } from './names.js';

/** What the process of an app is doing on a host. */
export const PROCESS_STATES = [
  'stopped', // not running, and not meant to be (no assignment, or never started)
  'starting', // spawned, not yet past its first health result or a settle period
  'running', // alive
  'backoff', // exited unexpectedly, waiting out the restart back-off
  'crash-loop', // restarted more than the threshold within the window; still retried, slowly
  'stopping', // stop signal sent, waiting for exit
  'exited', // exited and will not be restarted (for example its start command is missing)
] as const;
export type ProcessState = (typeof PROCESS_STATES)[number];

export const HEALTH_STATES = ['unknown', 'healthy', 'unhealthy'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

/** Progress of installing the desired version. */
export const INSTALL_PHASES = [
  'idle', // nothing to do: the desired version is active (or nothing is assigned)
  'downloading',
  'verifying',
  'unpacking',
  'activating', // hooks, link switch, stop old, start new
  'done', // activated; the process is supervised from here
  'failed', // gave up on this version; `error` says why, the previous version keeps running
] as const;
export type InstallPhase = (typeof INSTALL_PHASES)[number];

export interface AppStatusReport {
  app: string;
  desiredVersion: string | null;
  activeVersion: string | null;
  processState: ProcessState;
  pid: number | null;
  /** Restarts of the active version's process since it was activated. */
  restarts: number;
  health: HealthState;
  /** When `health` last changed (ms since epoch). */
  healthSinceMs: number;
  installPhase: InstallPhase;
  installVersion: string | null;
  error: string | null;
  updatedAtMs: number;
}

export interface Inventory {
  hostname: string;
  os: string;
  arch: string;
  kernel: string;
  cpus: number;
  memTotalBytes: number;
  agentVersion: string;
}

export interface LoadFigures {
  cpuPercent: number;
  memUsedBytes: number;
  memTotalBytes: number;
  diskFreeBytes: number;
}

/** Sent at start and after every reconnect. */
export interface Announce {
  type: 'announce';
  hostId: string;
  labels: Record<string, string>;
  inventory: Inventory;
  heartbeatIntervalMs: number;
  /** The agent's process start, so the controller can tell a restart from a reconnect. */
  bootId: string;
  sentAtMs: number;
}

/** Sent every heartbeat interval, and at once when an app's status changes. */
export interface Heartbeat {
  type: 'heartbeat';
  hostId: string;
  /** Counts up from 1 for each agent process (bootId); lets the controller drop reordered beats. */
  n: number;
  bootId: string;
  sentAtMs: number;
  heartbeatIntervalMs: number;
  /** The highest assignment seq this host has accepted (0 for none). */
  acceptedSeq: number;
  load: LoadFigures;
  apps: AppStatusReport[];
  labels: Record<string, string>;
}

/** Reply to a sync request. */
export interface SyncReply {
  type: 'sync-reply';
  /** The host's current signed assignment, or null when it has none. */
  assignment: { payload: string; keyId: string; signature: string } | null;
}

const nonNeg = z.number().finite().nonnegative();
const labelsSchema = z.record(z.string().regex(LABEL_KEY), z.string().regex(LABEL_VALUE));

const appStatusSchema = z.object({
  app: z.string().regex(APP_NAME),
  desiredVersion: z.string().regex(VERSION).nullable(),
  activeVersion: z.string().regex(VERSION).nullable(),
  processState: z.enum(PROCESS_STATES),
  pid: z.number().int().positive().nullable(),
  restarts: z.number().int().nonnegative(),
  health: z.enum(HEALTH_STATES),
  healthSinceMs: nonNeg,
  installPhase: z.enum(INSTALL_PHASES),
  installVersion: z.string().regex(VERSION).nullable(),
  error: z.string().max(4096).nullable(),
  updatedAtMs: nonNeg,
});

const inventorySchema = z.object({
  hostname: z.string().max(256),
  os: z.string().max(256),
  arch: z.string().max(64),
  kernel: z.string().max(256),
  cpus: z.number().int().nonnegative(),
  memTotalBytes: nonNeg,
  agentVersion: z.string().max(64),
});

const loadSchema = z.object({
  cpuPercent: nonNeg,
  memUsedBytes: nonNeg,
  memTotalBytes: nonNeg,
  diskFreeBytes: nonNeg,
});

const announceSchema = z.object({
  type: z.literal('announce'),
  hostId: z.string().regex(HOST_ID),
  labels: labelsSchema,
  inventory: inventorySchema,
  heartbeatIntervalMs: z.number().int().positive(),
  bootId: z.string().min(1).max(64),
  sentAtMs: nonNeg,
});

const heartbeatSchema = z.object({
  type: z.literal('heartbeat'),
  hostId: z.string().regex(HOST_ID),
  n: z.number().int().positive(),
  bootId: z.string().min(1).max(64),
  sentAtMs: nonNeg,
  heartbeatIntervalMs: z.number().int().positive(),
  acceptedSeq: z.number().int().nonnegative(),
  load: loadSchema,
  apps: z.array(appStatusSchema).max(256),
  labels: labelsSchema,
});

const decoder = new TextDecoder();

function decode<T>(schema: z.ZodType<T>, data: Uint8Array, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    throw new ValidationError(`${what} is not valid JSON`);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ValidationError(
      `${what} is invalid: ${issue ? `${issue.path.join('.') || '(root)'} ${issue.message}` : 'unknown problem'}`,
    );
  }
  return r.data;
}

export function decodeAnnounce(data: Uint8Array): Announce {
  return decode(announceSchema, data, 'announce') as Announce;
}

export function decodeHeartbeat(data: Uint8Array): Heartbeat {
  return decode(heartbeatSchema, data, 'heartbeat') as Heartbeat;
}

const encoder = new TextEncoder();
export function encodeMessage(message: Announce | Heartbeat | SyncReply | object): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}
