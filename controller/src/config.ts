import { resolve } from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  LOG_LEVELS,
  errorMessage,
  loadConfig,
  loadPrivateKey,
  loadTrustedKeys,
  parseDuration,
  type EnvBinding,
  type LogLevel,
  type SigningKey,
  type TrustedKey,
  natsCredentialsFromUrls,
} from '@flotilla/shared';
import { leaseSettingsProblem } from './cluster/lease.js';
import { ALARMS_ENV, alarmsConfigSchema, alertsConfigSchema, type AlarmsConfig, type AlertsConfig } from './alarms/config.js';

export const PROGRAM = 'flotilla-controller';

export const DEFAULT_NATS_SERVER = 'nats://127.0.0.1:4222';
export const DEFAULT_GRPC_LISTEN = '0.0.0.0:7400';
export const DEFAULT_HTTP_LISTEN = '0.0.0.0:7401';
export const DEFAULT_SUBJECT_PREFIX = 'flotilla';

/** A parsed `HOST:PORT`; port 0 asks the system for a free port. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** The keys the controller works with, read from the files its config names. */
export interface ControllerKeys {
  /** Signs every assignment (the online key). */
  readonly controller: SigningKey;
  /** Release signers' public keys: an upload must verify against one of them. */
  readonly trusted: readonly TrustedKey[];
}

/** The controller's settings, parsed once at start, fully defaulted and frozen. */
export interface ControllerConfig {
  readonly nats: {
    /** @default ['nats://127.0.0.1:4222'] */
    readonly servers: readonly string[];
    /** @default none */
    readonly user?: string;
    /** @default none */
    readonly password?: string;
    /** @default none */
    readonly token?: string;
    /** First token of every subject, so installations can share a NATS account. @default 'flotilla' */
    readonly subjectPrefix: string;
    /** Replicas of every KV bucket (1 on a single server; 3 or 5 on a cluster). @default 1 */
    readonly kvReplicas: number;
    /** How long the first connection may take before start fails. @default 10000 (10s) */
    readonly connectTimeoutMs: number;
  };
  readonly grpc: {
    /** @default { host: '0.0.0.0', port: 7400 } */
    readonly listen: ListenAddress;
  };
  readonly http: {
    /** @default { host: '0.0.0.0', port: 7401 } */
    readonly listen: ListenAddress;
  };
  /** Artifacts live in `<dataDir>/artifacts/` (absolute). Required. */
  readonly dataDir: string;
  /** Paths of the release signers' public keys. Required: at least one. */
  readonly trustedKeys: readonly string[];
  /** Path of the controller's Ed25519 private key (PKCS#8 PEM). Required. */
  readonly controllerKey: string;
  /** When set, every gRPC call must carry `authorization: Bearer <token>`. @default none */
  readonly apiToken?: string;
  readonly hosts: {
    /** A host that misses this many heartbeat intervals in a row is marked down. @default 3 */
    readonly downAfterMissed: number;
  };
  readonly artifacts: {
    /** The largest artifact an upload may announce, in bytes. @default 4 GiB */
    readonly maxBytes: number;
    /** Bytes per download message. @default 262144 (256 KiB) */
    readonly downloadChunkBytes: number;
  };
  readonly assignments: {
    /** Hosts whose assignments are written at the same time during a deploy. @default 16 */
    readonly concurrency: number;
  };
  /** The leader lease between controllers sharing one NATS cluster (docs/architecture.md). */
  readonly cluster: {
    /** How long a lease lasts after the renewal that began it; a dead leader is replaced after about this long. @default 10000 (10s) */
    readonly leaseMs: number;
    /** How often the leader renews, and how often followers look. @default 3000 (3s) */
    readonly renewIntervalMs: number;
    /** The leader stops acting this long before its lease ends (room for a write in flight). @default 2000 (2s) */
    readonly marginMs: number;
  };
  /** How long a graceful shutdown may wait for calls in flight before it cuts them. @default 10000 (10s) */
  readonly shutdownTimeoutMs: number;
  readonly log: {
    /** @default 'info' */
    readonly level: LogLevel;
    /** Human-readable lines. @default true on a terminal */
    readonly pretty?: boolean;
  };
  /** The alert webhooks: bearer token, app label, body size limit. */
  readonly alerts: AlertsConfig;
  /** Built-in alarms and what alarms do, for every app and per app. */
  readonly alarms: AlarmsConfig;
  /** The keys read from `controllerKey` and `trustedKeys` at start. */
  readonly keys: ControllerKeys;
}

/** Where a caller's settings come from; every part is optional. */
export interface ControllerConfigInput {
  /** Path of a YAML config file. */
  file?: string | undefined;
  /** Values from flags, shaped like the config file (see flagOverrides in flags.ts). */
  overrides?: Record<string, unknown>;
  /** The process environment. @default process.env */
  environment?: Readonly<Record<string, string | undefined>>;
}

const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const MiB = 1024 * 1024;

/** Reads `HOST:PORT`, `[V6]:PORT` or `:PORT` (every interface). */
export function parseListenAddress(input: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(input.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError(`"${input}" is not HOST:PORT (for example 0.0.0.0:7400, [::]:7400 or 127.0.0.1:0)`);
  }
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : (m[2] as string));
  return { host, port };
}

const durationField = (what: string) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parseDuration(v, what);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: errorMessage(err) });
      return z.NEVER;
    }
  });

const listenField = z.string().transform((v, ctx) => {
  try {
    return parseListenAddress(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: errorMessage(err) });
    return z.NEVER;
  }
});

const secret = z.string().min(1, 'must not be empty').optional();

const required = (hint: string) => ({
  error: (issue: { input: unknown }) => (issue.input === undefined ? `is required (${hint})` : 'must be a string'),
});

export const controllerConfigSchema = z
  .object({
    nats: z
      .object({
        servers: z
          .union([z.string(), z.array(z.string())])
          .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== ''))
          .pipe(z.array(z.string()).min(1, 'name at least one NATS server'))
          .prefault([DEFAULT_NATS_SERVER]),
        user: secret,
        password: secret,
        token: secret,
        subjectPrefix: z.string().regex(SUBJECT_PREFIX, 'is not a valid subject prefix').default(DEFAULT_SUBJECT_PREFIX),
        kvReplicas: z.number().int().min(1).max(5, 'must be at most 5 (JetStream allows 1 to 5 replicas)').default(1),
        connectTimeout: durationField('nats.connectTimeout')
          .pipe(z.number().min(100, 'must be at least 100ms'))
          .prefault('10s'),
      })
      .strict()
      .transform(natsCredentialsFromUrls)
      .prefault({}),
    grpc: z.object({ listen: listenField.prefault(DEFAULT_GRPC_LISTEN) }).strict().prefault({}),
    http: z.object({ listen: listenField.prefault(DEFAULT_HTTP_LISTEN) }).strict().prefault({}),
    dataDir: z.string(required('--data-dir, FLOTILLA_DATA_DIR or dataDir in the config file')).min(1, 'must not be empty'),
    trustedKeys: z
      .array(z.string().min(1, 'must not be empty'))
      .prefault([])
      .refine((paths) => paths.length > 0, {
        message: 'name at least one trusted release public key (--trusted-key PATH, FLOTILLA_TRUSTED_KEYS or trustedKeys)',
      }),
    controllerKey: z
      .string(required('--controller-key, FLOTILLA_CONTROLLER_KEY or controllerKey in the config file'))
      .min(1, 'must not be empty'),
    apiToken: secret,
    hosts: z
      .object({ downAfterMissed: z.number().int().min(1).max(100).default(3) })
      .strict()
      .prefault({}),
    artifacts: z
      .object({
        maxBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).default(4 * 1024 * MiB),
        downloadChunkBytes: z
          .number()
          .int()
          .min(16 * 1024, 'must be at least 16384')
          .max(4 * MiB, 'must be at most 4194304 (the gRPC message limit)')
          .default(256 * 1024),
      })
      .strict()
      .prefault({}),
    assignments: z
      .object({ concurrency: z.number().int().min(1).max(1024).default(16) })
      .strict()
      .prefault({}),
    cluster: z
      .object({
        lease: durationField('cluster.lease').pipe(z.number().min(1000, 'must be at least 1s')).prefault('10s'),
        renewInterval: durationField('cluster.renewInterval').pipe(z.number().min(100, 'must be at least 100ms')).prefault('3s'),
        margin: durationField('cluster.margin').pipe(z.number().min(100, 'must be at least 100ms')).prefault('2s'),
      })
      .strict()
      .transform((c, ctx) => {
        const out = { leaseMs: c.lease, renewIntervalMs: c.renewInterval, marginMs: c.margin };
        const problem = leaseSettingsProblem({ leaseMs: out.leaseMs, renewMs: out.renewIntervalMs, marginMs: out.marginMs });
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
        return out;
      })
      .prefault({}),
    shutdownTimeout: durationField('shutdownTimeout').prefault('10s'),
    log: z
      .object({ level: z.enum(LOG_LEVELS).default('info'), pretty: z.boolean().optional() })
      .strict()
      .prefault({}),
    alerts: alertsConfigSchema,
    alarms: alarmsConfigSchema,
  })
  .strict()
  .transform(({ shutdownTimeout, dataDir, trustedKeys, controllerKey, nats, ...rest }) => {
    const { connectTimeout, ...natsRest } = nats;
    return {
      ...rest,
      nats: { ...natsRest, connectTimeoutMs: connectTimeout },
      dataDir: resolve(dataDir),
      trustedKeys: trustedKeys.map((p) => resolve(p)),
      controllerKey: resolve(controllerKey),
      shutdownTimeoutMs: shutdownTimeout,
    };
  });

export const CONTROLLER_ENV: Readonly<Record<string, EnvBinding>> = Object.freeze({
  FLOTILLA_NATS_SERVERS: { path: 'nats.servers', kind: 'list' },
  FLOTILLA_NATS_USER: { path: 'nats.user' },
  FLOTILLA_NATS_PASSWORD: { path: 'nats.password' },
  FLOTILLA_NATS_TOKEN: { path: 'nats.token' },
  FLOTILLA_GRPC_LISTEN: { path: 'grpc.listen' },
  FLOTILLA_HTTP_LISTEN: { path: 'http.listen' },
  FLOTILLA_DATA_DIR: { path: 'dataDir' },
  FLOTILLA_TRUSTED_KEYS: { path: 'trustedKeys', kind: 'list' },
  FLOTILLA_CONTROLLER_KEY: { path: 'controllerKey' },
  FLOTILLA_API_TOKEN: { path: 'apiToken' },
  FLOTILLA_LOG_LEVEL: { path: 'log.level' },
  FLOTILLA_CLUSTER_LEASE: { path: 'cluster.lease' },
  FLOTILLA_CLUSTER_RENEW_INTERVAL: { path: 'cluster.renewInterval' },
  FLOTILLA_CLUSTER_MARGIN: { path: 'cluster.margin' },
  ...ALARMS_ENV,
});

/**
 * Reads the keys the config names. Each failure names the setting at fault, and the controller's
 * own key may not double as a release key: the online controller must never be able to vouch
 * for release bytes (two keys, two roles).
 */
export function loadControllerKeys(settings: { controllerKey: string; trustedKeys: readonly string[] }): ControllerKeys {
  let controller: SigningKey;
  try {
    controller = loadPrivateKey(settings.controllerKey);
  } catch (err) {
    throw new ConfigError(`${PROGRAM} config is invalid: controllerKey: ${errorMessage(err)}`, { cause: err });
  }
  let trusted: TrustedKey[];
  try {
    trusted = loadTrustedKeys(settings.trustedKeys);
  } catch (err) {
    throw new ConfigError(`${PROGRAM} config is invalid: trustedKeys: ${errorMessage(err)}`, { cause: err });
  }
  const clash = trusted.find((k) => k.keyId === controller.keyId);
  if (clash) {
    throw new ConfigError(
      `${PROGRAM} config is invalid: trustedKeys: ${clash.source} is the public half of the controller key ` +
        `(${controller.keyId}); release keys and the controller key must differ`,
    );
  }
  return Object.freeze({ controller: Object.freeze(controller), trusted: Object.freeze(trusted) });
}

/**
 * Builds the controller's configuration from defaults < YAML file < FLOTILLA_* environment <
 * flags, validates it, reads the key files it names, and freezes the result. Throws ConfigError
 * naming the field at fault.
 */
export function loadControllerConfig(input: ControllerConfigInput = {}): ControllerConfig {
  const settings = loadConfig({
    program: PROGRAM,
    schema: controllerConfigSchema,
    file: input.file,
    env: CONTROLLER_ENV,
    ...(input.environment ? { environment: input.environment } : {}),
    ...(input.overrides ? { overrides: input.overrides } : {}),
  });
  const keys = loadControllerKeys(settings);
  return Object.freeze({ ...settings, keys }) as ControllerConfig;
}

/** The address a local client reaches a listener on: loopback when it listens on every interface. */
export function dialableAddress(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '' || host === '::') return `127.0.0.1:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
