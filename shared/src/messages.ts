import { z } from 'zod';
import { ValidationError } from './errors.js';
import { APP_NAME, HOST_ID, LABEL_KEY, LABEL_VALUE, VERSION } from './names.js';
import type { AssignmentProof } from './assignment-proof.js';

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
  /**
   * For an app served from two slots: the percent of its requests the balancer sends to
   * `activeVersion`, as last applied (the rest go to the release beside it). Absent otherwise.
   */
  trafficWeight?: number;
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
  /**
   * The agent takes assignments signed by a step's root with a proof (assignment-proof.ts).
   * Absent from older agents: the controller signs each of their assignments singly.
   */
  assignmentProofs?: boolean;
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
  /** The host's view of the trust chain (absent from older agents). */
  trust?: TrustReport;
}

/** What a host says about the assignments and keys it holds, for `flotilla hosts`. */
export interface TrustReport {
  /** The controller-key epoch of the accepted assignment (acceptedSeq counts within it). */
  acceptedEpoch: number;
  /** The controller-key epoch the host trusts now (it has taken every rotation up to it). */
  keyEpoch: number;
  /** The accepted assignment has expired and nothing newer came: the host installs nothing. */
  stale: boolean;
  /** Why the last assignment or key statement was refused, or null. */
  error: string | null;
}

/** Reply to a sync request. */
export interface SyncReply {
  type: 'sync-reply';
  /** The host's current signed assignment, or null when it has none. */
  assignment: { payload: string; keyId: string; signature: string; proof?: AssignmentProof } | null;
  /** The controller's key rotation statements, oldest first (absent or empty: never rotated). */
  keyChain?: { payload: string; keyId: string; signature: string }[];
  /** The controller takes heartbeat ticks (heartbeat-tick.ts); absent from older controllers. */
  heartbeatTicks?: { fullEvery: number };
}

// Limits shared by the schemas and the heartbeat's fast check below.
const MAX_APPS = 256;
const MAX_BOOT_ID = 64;
const MAX_ERROR = 4096;

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
  error: z.string().max(MAX_ERROR).nullable(),
  updatedAtMs: nonNeg,
  trafficWeight: z.number().int().min(0).max(100).optional(),
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
  bootId: z.string().min(1).max(MAX_BOOT_ID),
  sentAtMs: nonNeg,
  assignmentProofs: z.boolean().optional(),
});

/**
 * The heartbeat as the schema of record: what `Heartbeat` means, and what decides (and words)
 * every rejection. `isWellFormedHeartbeat` below is a faster check of the same rules for the
 * messages that pass them.
 */
export const heartbeatSchema = z.object({
  type: z.literal('heartbeat'),
  hostId: z.string().regex(HOST_ID),
  n: z.number().int().positive(),
  bootId: z.string().min(1).max(MAX_BOOT_ID),
  sentAtMs: nonNeg,
  heartbeatIntervalMs: z.number().int().positive(),
  acceptedSeq: z.number().int().nonnegative(),
  load: loadSchema,
  apps: z.array(appStatusSchema).max(MAX_APPS),
  labels: labelsSchema,
  trust: z
    .object({
      acceptedEpoch: z.number().int().positive(),
      keyEpoch: z.number().int().positive(),
      stale: z.boolean(),
      error: z.string().max(MAX_ERROR).nullable(),
    })
    .optional(),
});

const decoder = new TextDecoder();

function parseJson(data: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(data));
  } catch {
    throw new ValidationError(`${what} is not valid JSON`);
  }
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
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
  return check(announceSchema, parseJson(data, 'announce'), 'announce') as Announce;
}

/**
 * Every host sends one a second, so this is the controller's busiest path. A message that is
 * plainly well-formed (`isWellFormedHeartbeat`) is returned as parsed; anything else goes to the
 * schema, which accepts it (dropping unknown keys) or rejects it with its message. Either way the
 * outcome is the schema's.
 */
export function decodeHeartbeat(data: Uint8Array): Heartbeat {
  const value = parseJson(data, 'heartbeat');
  if (isWellFormedHeartbeat(value)) return value;
  return check(heartbeatSchema, value, 'heartbeat') as Heartbeat;
}

// ---------------------------------------------------------------------------------------------
// The heartbeat's fast check. Parsing with the schema copies every object and runs a closure per
// field; for 25,000 hosts a second that was a quarter of the controller's time and much of its
// garbage. This check reads the parsed JSON in place and allocates nothing.
//
// It may only say yes to a value the schema accepts *and* returns unchanged, so it is stricter
// where that is simpler: unknown keys (the schema drops them, so its output would differ), a
// `__proto__` label (the schema skips it), strings whose length in UTF-16 units is over a limit
// (the schema counts code points), and any object whose prototype is not Object's all answer no
// and leave the decision to the schema. Keep it in step with the schemas above; the unit test
// checks the two against each other on valid and mutated heartbeats.

const HEARTBEAT_KEYS = Object.keys(heartbeatSchema.shape).length;
const LOAD_KEYS = Object.keys(loadSchema.shape).length;
const APP_STATUS_KEYS = Object.keys(appStatusSchema.shape).length;

/** True only for a value `heartbeatSchema` accepts and would return equal to the value itself. */
export function isWellFormedHeartbeat(value: unknown): value is Heartbeat {
  if (!isPlainObject(value)) return false;
  const hb = value as Record<string, unknown>;
  return (
    hb.type === 'heartbeat' &&
    matches(hb.hostId, HOST_ID) &&
    isPositiveInt(hb.n) &&
    isBoundedString(hb.bootId, 1, MAX_BOOT_ID) &&
    isNonNegative(hb.sentAtMs) &&
    isPositiveInt(hb.heartbeatIntervalMs) &&
    isNonNegativeInt(hb.acceptedSeq) &&
    isWellFormedLoad(hb.load) &&
    isWellFormedApps(hb.apps) &&
    isWellFormedLabels(hb.labels) &&
    (hb.trust === undefined ? keyCount(hb) === HEARTBEAT_KEYS - 1 : isWellFormedTrust(hb.trust) && keyCount(hb) === HEARTBEAT_KEYS)
  );
}

function isWellFormedTrust(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const t = value as Record<string, unknown>;
  return (
    isPositiveInt(t.acceptedEpoch) &&
    isPositiveInt(t.keyEpoch) &&
    typeof t.stale === 'boolean' &&
    (t.error === null || isBoundedString(t.error, 0, MAX_ERROR)) &&
    keyCount(t) === 4
  );
}

function isWellFormedLoad(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const load = value as Record<string, unknown>;
  return (
    isNonNegative(load.cpuPercent) &&
    isNonNegative(load.memUsedBytes) &&
    isNonNegative(load.memTotalBytes) &&
    isNonNegative(load.diskFreeBytes) &&
    keyCount(load) === LOAD_KEYS
  );
}

function isWellFormedApps(value: unknown): boolean {
  if (!Array.isArray(value) || value.length > MAX_APPS) return false;
  for (let i = 0; i < value.length; i++) {
    if (!isWellFormedAppStatus(value[i])) return false;
  }
  return true;
}

function isWellFormedAppStatus(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const a = value as Record<string, unknown>;
  return (
    matches(a.app, APP_NAME) &&
    isVersionOrNull(a.desiredVersion) &&
    isVersionOrNull(a.activeVersion) &&
    isOneOf(a.processState, PROCESS_STATES) &&
    (a.pid === null || isPositiveInt(a.pid)) &&
    isNonNegativeInt(a.restarts) &&
    isOneOf(a.health, HEALTH_STATES) &&
    isNonNegative(a.healthSinceMs) &&
    isOneOf(a.installPhase, INSTALL_PHASES) &&
    isVersionOrNull(a.installVersion) &&
    (a.error === null || isBoundedString(a.error, 0, MAX_ERROR)) &&
    isNonNegative(a.updatedAtMs) &&
    // trafficWeight is the one optional key: absent, or a whole percent.
    (a.trafficWeight === undefined
      ? !('trafficWeight' in a) && keyCount(a) === APP_STATUS_KEYS - 1
      : isNonNegativeInt(a.trafficWeight) && (a.trafficWeight as number) <= 100 && keyCount(a) === APP_STATUS_KEYS)
  );
}

function isWellFormedLabels(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const labels = value as Record<string, unknown>;
  for (const key in labels) {
    // LABEL_KEY refuses `__proto__` already; said here too because the schema skips that key.
    if (key === '__proto__' || !LABEL_KEY.test(key)) return false;
    if (!matches(labels[key], LABEL_VALUE)) return false;
  }
  return true;
}

/** An object straight from JSON.parse (arrays and anything with another prototype are not). */
function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Own and inherited enumerable keys; with every expected key present, more means unknown keys. */
function keyCount(o: object): number {
  let n = 0;
  for (const _key in o) n++;
  return n;
}

function matches(value: unknown, pattern: RegExp): boolean {
  return typeof value === 'string' && pattern.test(value);
}

function isVersionOrNull(value: unknown): boolean {
  return value === null || matches(value, VERSION);
}

function isBoundedString(value: unknown, min: number, max: number): boolean {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

function isOneOf(value: unknown, allowed: readonly string[]): boolean {
  return typeof value === 'string' && allowed.includes(value);
}

/** z.number() refuses NaN and ±Infinity; JSON.parse gives Infinity for 1e400. */
function isNonNegative(value: unknown): boolean {
  return Number.isFinite(value) && (value as number) >= 0;
}

/** z.number().int() means a safe integer. */
function isPositiveInt(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

function isNonNegativeInt(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

const encoder = new TextEncoder();
export function encodeMessage(message: Announce | Heartbeat | SyncReply | object): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}
