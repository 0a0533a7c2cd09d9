import { z } from 'zod';
import { APP_NAME, durationSchema, type EnvBinding } from '@flotilla/shared';
import type { AlertSource } from '../auth/alert-sources.js';

/** The alert webhooks' settings (`alerts:` in the controller config). */
export interface AlertsConfig {
  /**
   * The bearer token both webhooks require (at least 16 characters). Without one the webhooks
   * answer 503 ("disabled"). @default none
   */
  readonly token?: string;
  /** The Alertmanager label that names the app. @default 'app' */
  readonly appLabel: string;
  /** The largest webhook body accepted, in bytes. @default 1048576 (1 MiB) */
  readonly maxBodyBytes: number;
  /** Named alert sources, each with its own token (stored hashed) and the apps it may alarm. @default [] */
  readonly sources: readonly AlertSource[];
}

/** Health checks failing on too many of an app's hosts. */
export interface HealthAlarmSettings {
  /** @default true */
  readonly enabled: boolean;
  /** Fires when MORE than this share (0 to 1) of the hosts running the app fail. @default 0.5 */
  readonly failingShare: number;
  /** ...continuously for this long. @default 10000 (10s) */
  readonly forMs: number;
}

/** An app's process crash-looping on any host. */
export interface CrashLoopAlarmSettings {
  /** @default true */
  readonly enabled: boolean;
  /** Fires when a host reports the app in `crash-loop`, or its restarts grow by more than this... @default 3 */
  readonly restarts: number;
  /** ...within this window. @default 300000 (5m) */
  readonly windowMs: number;
}

/**
 * A host running the app above a CPU or memory limit. Off by default: the figures are the whole
 * host's, so on a shared host they cannot say which app is to blame, and reverting every app on
 * a busy host would be wrong more often than right. Turn on per app where it is meaningful.
 */
export interface ResourceAlarmSettings {
  /** Host CPU use in percent above which the app's host counts as overloaded; null is off. @default null */
  readonly cpuPercent: number | null;
  /** Host memory use in percent (used / total); null is off. @default null */
  readonly memoryPercent: number | null;
  /** ...continuously for this long. @default 120000 (2m) */
  readonly forMs: number;
}

/**
 * How many of an app's counted hosts (those assigned the app and running the assigned version)
 * a condition must hold on before an alarm fires. The larger of the two applies, but never more
 * than the counted hosts themselves: an app on one host still alarms on that host. A host's word
 * is evidence about that host only; it can fail its own rollout step, never revert a fleet alone.
 */
export interface AlarmQuorum {
  /** At least this many hosts (capped at the app's counted hosts). @default 2 */
  readonly minHosts: number;
  /** At least this share (0 to 1) of the app's counted hosts, rounded up. @default 0 */
  readonly minShare: number;
}

/** What alarms do for one app. */
export interface AppAlarmPolicy {
  readonly quorum: AlarmQuorum;
  readonly health: HealthAlarmSettings;
  readonly crashLoop: CrashLoopAlarmSettings;
  readonly resources: ResourceAlarmSettings;
  /**
   * Outside a running rollout and its watch window an alarm is recorded only; true makes it
   * revert the app to its previous stable version too (read by the rollout manager). @default false
   */
  readonly revertOutsideWatchWindow: boolean;
}

/** `alarms:` in the controller config: defaults for every app, and per-app overrides. */
export interface AlarmsConfig {
  readonly defaults: AppAlarmPolicy;
  /** Fully resolved (defaults < the app's overrides), by app name. */
  readonly apps: Readonly<Record<string, AppAlarmPolicy>>;
}

export const ALARM_DEFAULTS: AppAlarmPolicy = Object.freeze({
  quorum: Object.freeze({ minHosts: 2, minShare: 0 }),
  health: Object.freeze({ enabled: true, failingShare: 0.5, forMs: 10_000 }),
  crashLoop: Object.freeze({ enabled: true, restarts: 3, windowMs: 300_000 }),
  resources: Object.freeze({ cpuPercent: null, memoryPercent: null, forMs: 120_000 }),
  revertOutsideWatchWindow: false,
});

const MiB = 1024 * 1024;
const PROMETHEUS_LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const duration = durationSchema;

/** 0.5 or '50%'. */
const share = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : /^\d+(?:\.\d+)?%$/.test(v.trim()) ? Number(v.trim().slice(0, -1)) / 100 : NaN;
  if (!(n >= 0 && n < 1)) {
    ctx.addIssue({ code: 'custom', message: 'must be a share from 0 up to (not including) 1, or a percentage such as 50%' });
    return z.NEVER;
  }
  return n;
});

const percentLimit = z.number().gt(0, 'must be above 0').max(100, 'must be at most 100').nullable();

/** The input shape of each section with every field optional (app overrides). */
const healthFields = {
  enabled: z.boolean(),
  failingShare: share,
  for: duration('health.for').pipe(z.number().min(0)),
};
const crashLoopFields = {
  enabled: z.boolean(),
  restarts: z.number().int().min(0).max(1000),
  window: duration('crashLoop.window').pipe(z.number().min(1000, 'must be at least 1s')),
};
const resourceFields = {
  cpuPercent: percentLimit,
  memoryPercent: percentLimit,
  for: duration('resources.for').pipe(z.number().min(0)),
};

const quorumFields = {
  minHosts: z.number().int().min(1).max(100_000),
  minShare: share,
};

const partialPolicy = z
  .strictObject({
    quorum: z.strictObject(quorumFields).partial().optional(),
    health: z.strictObject(healthFields).partial().optional(),
    crashLoop: z.strictObject(crashLoopFields).partial().optional(),
    resources: z.strictObject(resourceFields).partial().optional(),
    revertOutsideWatchWindow: z.boolean().optional(),
  })
  .prefault({});

type PartialPolicy = z.output<typeof partialPolicy>;

function resolvePolicy(base: AppAlarmPolicy, over: PartialPolicy): AppAlarmPolicy {
  const h = over.health ?? {};
  const c = over.crashLoop ?? {};
  const r = over.resources ?? {};
  const q = over.quorum ?? {};
  return Object.freeze({
    quorum: Object.freeze({
      minHosts: q.minHosts ?? base.quorum.minHosts,
      minShare: q.minShare ?? base.quorum.minShare,
    }),
    health: Object.freeze({
      enabled: h.enabled ?? base.health.enabled,
      failingShare: h.failingShare ?? base.health.failingShare,
      forMs: h.for ?? base.health.forMs,
    }),
    crashLoop: Object.freeze({
      enabled: c.enabled ?? base.crashLoop.enabled,
      restarts: c.restarts ?? base.crashLoop.restarts,
      windowMs: c.window ?? base.crashLoop.windowMs,
    }),
    resources: Object.freeze({
      cpuPercent: r.cpuPercent !== undefined ? r.cpuPercent : base.resources.cpuPercent,
      memoryPercent: r.memoryPercent !== undefined ? r.memoryPercent : base.resources.memoryPercent,
      forMs: r.for ?? base.resources.forMs,
    }),
    revertOutsideWatchWindow: over.revertOutsideWatchWindow ?? base.revertOutsideWatchWindow,
  });
}

/**
 * `alerts:` for controllerConfigSchema. YAML:
 * ```yaml
 * alerts:
 *   token: <at least 16 characters>   # or FLOTILLA_ALERTS_TOKEN
 *   appLabel: app
 *   maxBodyBytes: 1048576
 * ```
 */
export const alertsConfigSchema = z
  .strictObject({
    token: z.string().min(16, 'must be at least 16 characters (for example: openssl rand -hex 32)').optional(),
    appLabel: z.string().regex(PROMETHEUS_LABEL_NAME, 'must be a Prometheus label name ([A-Za-z_][A-Za-z0-9_]*)').default('app'),
    maxBodyBytes: z
      .number()
      .int()
      .min(1024, 'must be at least 1024')
      .max(64 * MiB, 'must be at most 67108864 (64 MiB)')
      .default(MiB),
    sources: z
      .array(
        z.strictObject({
          name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"'),
          tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the token (printf %s "$TOKEN" | sha256sum)'),
          apps: z.array(z.string().min(1)).min(1, 'list the apps it may raise alarms for (or "*")'),
        }),
      )
      .default([])
      .transform((list) => list.map((s): AlertSource => ({ ...s, apps: s.apps.includes('*') ? '*' : s.apps }))),
  })
  .prefault({})
  .transform((v): AlertsConfig =>
    Object.freeze(v.token === undefined ? { appLabel: v.appLabel, maxBodyBytes: v.maxBodyBytes, sources: v.sources } : v),
  );

/**
 * `alarms:` for controllerConfigSchema: durations as text (`10s`, `5m`) or milliseconds. YAML:
 * ```yaml
 * alarms:
 *   defaults:
 *     quorum: { minHosts: 2, minShare: 0 }
 *     health: { enabled: true, failingShare: 50%, for: 10s }
 *     crashLoop: { enabled: true, restarts: 3, window: 5m }
 *     resources: { cpuPercent: null, memoryPercent: null, for: 2m }
 *     revertOutsideWatchWindow: false
 *   apps:
 *     web:
 *       resources: { cpuPercent: 95 }
 *       revertOutsideWatchWindow: true
 * ```
 */
export const alarmsConfigSchema = z
  .strictObject({
    defaults: partialPolicy,
    apps: z
      .record(z.string().regex(APP_NAME, "must be an app name (1-63 lowercase letters, digits, '-' or '_')"), partialPolicy)
      .prefault({}),
  })
  .prefault({})
  .transform((v): AlarmsConfig => {
    const defaults = resolvePolicy(ALARM_DEFAULTS, v.defaults);
    const apps: Record<string, AppAlarmPolicy> = {};
    for (const [app, over] of Object.entries(v.apps)) apps[app] = resolvePolicy(defaults, over);
    return Object.freeze({ defaults, apps: Object.freeze(apps) });
  });

/** Environment bindings to merge into CONTROLLER_ENV. */
export const ALARMS_ENV: Readonly<Record<string, EnvBinding>> = Object.freeze({
  FLOTILLA_ALERTS_TOKEN: { path: 'alerts.token' },
  FLOTILLA_ALERTS_APP_LABEL: { path: 'alerts.appLabel' },
  FLOTILLA_ALERTS_MAX_BODY_BYTES: { path: 'alerts.maxBodyBytes', kind: 'number' },
});

/** The policy that applies to `app`: its own entry, or the defaults. */
export function alarmPolicyFor(config: AlarmsConfig, app: string): AppAlarmPolicy {
  return Object.hasOwn(config.apps, app) ? (config.apps[app] as AppAlarmPolicy) : config.defaults;
}

/** The settings when the config has no `alarms:` section. */
export const DEFAULT_ALARMS_CONFIG: AlarmsConfig = Object.freeze({ defaults: ALARM_DEFAULTS, apps: Object.freeze({}) });
