import { resolve } from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  HOST_ID,
  LOG_LEVELS,
  errorMessage,
  loadConfig,
  assertPrivateKeyFileMode,
  loadPrivateKey,
  loadTrustedKeys,
  parseFreeSpaceFloor,
  type EnvBinding,
  type FreeSpaceFloor,
  type LogLevel,
  type SigningKey,
  type TrustedKey,
  natsCredentialsFromUrls,
  natsTlsSchema,
  type NatsTlsSettings,
  durationSchema,
} from '@flotilla/shared';
import { parseAdvertise } from './advertise.js';
import { listenerPolicy, operatorsSchema, tlsSchema, type TlsFiles } from './auth/config.js';
import type { OperatorPolicy } from './auth/roles.js';
import type { LabelPolicy } from './host-labels.js';
import { limitsConfigSchema, type LimitsConfig } from './limits-config.js';
import { leaseSettingsProblem } from './cluster/lease.js';
import { ALARMS_ENV, alarmsConfigSchema, alertsConfigSchema, type AlarmsConfig, type AlertsConfig } from './alarms/config.js';

export const PROGRAM = 'flotilla-controller';

export const DEFAULT_NATS_SERVER = 'nats://127.0.0.1:4222';
// Loopback: a controller reachable from the network needs TLS and credentials first (deny by default).
export const DEFAULT_GRPC_LISTEN = '127.0.0.1:7400';
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
    /** TLS to nats-server (CA, and a client certificate for mutual TLS). @default none: plaintext */
    readonly tls?: NatsTlsSettings;
    /**
     * Credentials of the host-facing connection, the one that hears hosts and answers them. Its
     * NATS user should hold no `$JS.>`/`$KV.>` rights, so no reply can become a JetStream call.
     * @default the main connection's credentials (a warning at start says the protection is weaker)
     */
    readonly hostFacing?: { readonly user?: string; readonly password?: string; readonly token?: string };
  };
  readonly grpc: {
    /** @default { host: '127.0.0.1', port: 7400 } */
    readonly listen: ListenAddress;
  };
  readonly http: {
    /** @default { host: '0.0.0.0', port: 7401 } */
    readonly listen: ListenAddress;
    /** Serve HTTP over TLS with the `tls` certificate. @default false */
    readonly tls: boolean;
  };
  /**
   * The host (DNS name or IP, no port) other controllers, agents and operators reach this
   * controller at: what it publishes about itself in the cluster's member records, status and
   * /healthz, with each listener's port. Never a wildcard address (refused).
   * @default each listener's own host; for a listener on every interface, the machine's name
   */
  readonly advertise?: string;
  /** Artifacts live in `<dataDir>/artifacts/` (absolute). Required. */
  readonly dataDir: string;
  /** Paths of the release signers' public keys. Required: at least one. */
  readonly trustedKeys: readonly string[];
  /** Path of the controller's Ed25519 private key (PKCS#8 PEM). Required. */
  readonly controllerKey: string;
  /** Legacy: one token that acts as the admin operator "api-token". Prefer `operators`. @default none */
  readonly apiToken?: string;
  /** The gRPC listener's TLS (and the HTTP listener's when `http.tls`). @default none */
  readonly tls?: TlsFiles;
  /** Named operators: token hash and/or certificate, and roles per app. @default [] */
  readonly operators: readonly OperatorPolicy[];
  /** Run open: calls without credentials pass. Logged loudly at every start. @default false */
  readonly insecure: boolean;
  /** Whether callers without credentials pass (derived: see auth/config.ts listenerPolicy). */
  readonly open: boolean;
  readonly hosts: {
    /** A host that misses this many heartbeat intervals in a row is marked down. @default 3 */
    readonly downAfterMissed: number;
    /**
     * Which labels hosts claim are believed for selecting them: `trustLabels` (default true),
     * `pinnedLabelKeys` (default none) and the operator's `labels` per host (default none).
     */
    readonly labelPolicy: LabelPolicy;
  };
  readonly artifacts: {
    /** The largest artifact an upload may announce, in bytes. @default 4 GiB */
    readonly maxBytes: number;
    /** Bytes per download message. @default 262144 (256 KiB) */
    readonly downloadChunkBytes: number;
    /**
     * Versions of each app kept by upload time, newest first, beyond the protected ones (stable,
     * previous stable, assigned to a host, in an active rollout), which are always kept. @default 10
     */
    readonly keepVersions: number;
    /** How often the controller removes what keepVersions lets go; 0: never (only `flotilla artifact gc`). @default 3600000 (1h) */
    readonly gcIntervalMs: number;
    /** Free space the artifact store's filesystem must keep after an upload: a size, `N%`, or 0 (none). @default 512 MiB */
    readonly minFreeSpace: FreeSpaceFloor;
  };
  readonly assignments: {
    /** Hosts whose current records a step reads at the same time (those it has no revision of). @default 16 */
    readonly concurrency: number;
    /** A step's compare-and-set writes in flight at once. @default 16 */
    readonly pipeline: number;
    /** How long a signed assignment is good for; re-signed from half of it. @default 86400000 (24h) */
    readonly ttlMs: number;
    /** How often the controller looks for assignments due to be re-signed. @default 60000 (1m) */
    readonly refreshIntervalMs: number;
  };
  /** The leader lease between controllers sharing one NATS cluster (docs/architecture.md). */
  readonly cluster: {
    /** How long a lease lasts after the renewal that began it; a dead leader is replaced after about this long. @default 4000 (4s) */
    readonly leaseMs: number;
    /** How often the leader renews, and how often followers look. @default 1000 (1s) */
    readonly renewIntervalMs: number;
    /** The leader stops acting this long before its lease ends (room for a write in flight). @default 1000 (1s) */
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
  /** What any one caller, or all callers together, may spend: streams, uploads, host messages. */
  readonly limits: LimitsConfig;
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

const durationField = durationSchema;

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
        tls: natsTlsSchema,
        hostFacing: z.object({ user: secret, password: secret, token: secret }).strict().optional(),
      })
      .strict()
      .transform(natsCredentialsFromUrls)
      .prefault({}),
    grpc: z.object({ listen: listenField.prefault(DEFAULT_GRPC_LISTEN) }).strict().prefault({}),
    http: z.object({ listen: listenField.prefault(DEFAULT_HTTP_LISTEN), tls: z.boolean().default(false) }).strict().prefault({}),
    advertise: z
      .string()
      .transform((v, ctx) => {
        try {
          return parseAdvertise(v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: errorMessage(err) });
          return z.NEVER;
        }
      })
      .optional(),
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
    tls: tlsSchema,
    operators: operatorsSchema,
    insecure: z.boolean().default(false),
    hosts: z
      .object({
        downAfterMissed: z.number().int().min(1).max(100).default(3),
        trustLabels: z.boolean().default(true),
        pinnedLabelKeys: z.array(z.string().min(1)).default([]),
        labels: z.record(z.string().regex(HOST_ID, 'must be a host id'), z.record(z.string().min(1), z.string())).default({}),
      })
      .strict()
      .prefault({})
      .transform(({ downAfterMissed, trustLabels, pinnedLabelKeys, labels }) => ({
        downAfterMissed,
        labelPolicy: Object.freeze({ trustHostLabels: trustLabels, pinnedKeys: Object.freeze(pinnedLabelKeys), operatorLabels: Object.freeze(labels) }),
      })),
    artifacts: z
      .object({
        maxBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).default(4 * 1024 * MiB),
        downloadChunkBytes: z
          .number()
          .int()
          .min(16 * 1024, 'must be at least 16384')
          .max(4 * MiB, 'must be at most 4194304 (the gRPC message limit)')
          .default(256 * 1024),
        keepVersions: z.number().int().min(1).max(10_000).default(10),
        gcInterval: durationField('artifacts.gcInterval')
          .pipe(z.number().refine((ms) => ms === 0 || ms >= 1000, 'must be 0 (off) or at least 1s'))
          .prefault('1h'),
        minFreeSpace: z
          .union([z.string(), z.number()])
          .transform((v, ctx) => {
            try {
              return parseFreeSpaceFloor(v, 'artifacts.minFreeSpace');
            } catch (err) {
              ctx.addIssue({ code: 'custom', message: errorMessage(err) });
              return z.NEVER;
            }
          })
          .prefault('512MiB'),
      })
      .strict()
      .transform(({ gcInterval, ...rest }) => ({ ...rest, gcIntervalMs: gcInterval }))
      .prefault({}),
    assignments: z
      .object({
        concurrency: z.number().int().min(1).max(1024).default(16),
        pipeline: z.number().int().min(1).max(1024).default(16),
        ttl: durationField('assignments.ttl').prefault('24h'),
        refreshInterval: durationField('assignments.refreshInterval').prefault('1m'),
      })
      .strict()
      .prefault({})
      .transform(({ ttl, refreshInterval, ...a }) => ({ ...a, ttlMs: ttl, refreshIntervalMs: refreshInterval })),
    cluster: z
      .object({
        // A dead leader is replaced within about lease + renewInterval: under 5 s by default.
        lease: durationField('cluster.lease').pipe(z.number().min(1000, 'must be at least 1s')).prefault('4s'),
        renewInterval: durationField('cluster.renewInterval').pipe(z.number().min(100, 'must be at least 100ms')).prefault('1s'),
        margin: durationField('cluster.margin').pipe(z.number().min(100, 'must be at least 100ms')).prefault('1s'),
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
    limits: limitsConfigSchema,
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
  FLOTILLA_NATS_HOSTS_USER: { path: 'nats.hostFacing.user' },
  FLOTILLA_NATS_HOSTS_PASSWORD: { path: 'nats.hostFacing.password' },
  FLOTILLA_NATS_HOSTS_TOKEN: { path: 'nats.hostFacing.token' },
  FLOTILLA_NATS_TLS_CA: { path: 'nats.tls.caFile' },
  FLOTILLA_NATS_TLS_CERT: { path: 'nats.tls.certFile' },
  FLOTILLA_NATS_TLS_KEY: { path: 'nats.tls.keyFile' },
  FLOTILLA_GRPC_LISTEN: { path: 'grpc.listen' },
  FLOTILLA_HTTP_LISTEN: { path: 'http.listen' },
  FLOTILLA_ADVERTISE: { path: 'advertise' },
  FLOTILLA_DATA_DIR: { path: 'dataDir' },
  FLOTILLA_TRUSTED_KEYS: { path: 'trustedKeys', kind: 'list' },
  FLOTILLA_CONTROLLER_KEY: { path: 'controllerKey' },
  FLOTILLA_API_TOKEN: { path: 'apiToken' },
  FLOTILLA_TLS_CERT: { path: 'tls.cert' },
  FLOTILLA_TLS_KEY: { path: 'tls.key' },
  FLOTILLA_TLS_CA: { path: 'tls.ca' },
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
  try {
    // After parsing, so a file that is no key at all says so rather than complain of its mode.
    assertPrivateKeyFileMode(settings.controllerKey, 'controllerKey');
  } catch (err) {
    throw new ConfigError(`${PROGRAM} config is invalid: ${errorMessage(err)}`, { cause: err });
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
  if (settings.tls) {
    try {
      assertPrivateKeyFileMode(settings.tls.key, 'tls.key');
    } catch (err) {
      throw new ConfigError(`${PROGRAM} config is invalid: ${errorMessage(err)}`, { cause: err });
    }
  }
  if (settings.http.tls && !settings.tls) throw new ConfigError(`${PROGRAM} config is invalid: http.tls needs tls.cert, tls.key and tls.ca`);
  let open: boolean;
  try {
    ({ open } = listenerPolicy({
      grpcListen: settings.grpc.listen,
      tls: settings.tls,
      operators: settings.operators,
      apiToken: settings.apiToken !== undefined,
      insecure: settings.insecure,
      http: {
        listen: settings.http.listen,
        tls: settings.http.tls,
        webhookTokens: settings.alerts.token !== undefined || settings.alerts.sources.length > 0,
      },
    }));
  } catch (err) {
    throw new ConfigError(`${PROGRAM} refuses to start: ${errorMessage(err)}`, { cause: err });
  }
  return Object.freeze({ ...settings, keys, open }) as ControllerConfig;
}

/** The address a local client reaches a listener on: loopback when it listens on every interface. */
export function dialableAddress(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '' || host === '::') return `127.0.0.1:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
