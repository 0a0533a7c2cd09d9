import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { checkHostCertificate } from './host-certificate.js';
import { z } from 'zod';
import {
  APP_NAME,
  ConfigError,
  HOST_ID,
  LABEL_KEY,
  LABEL_VALUE,
  LOG_LEVELS,
  errorMessage,
  hostIdFromHostname,
  loadConfig,
  loadTrustedKeys,
  parseByteSize,
  parseDuration,
  parseFreeSpaceFloor,
  parseLabels,
  type EnvBinding,
  type FreeSpaceFloor,
  type LogLevel,
  type TrustedKey,
  natsCredentialsFromUrls,
  natsTlsSchema,
  trafficSlotsSchema,
  type NatsTlsSettings,
  type TrafficSpec,
} from '@flotilla/shared';
import { parseAgentFlags, type AgentFlags } from './flags.js';
import type { CacheRetention } from './cache-retention.js';

const PROGRAM = 'flotilla-agent';

/** Caps on what one release may unpack to; a tarball over any of them is refused. */
export interface UnpackLimitSettings {
  /** Total bytes of all files once unpacked. @default 2 GiB */
  readonly maxBytes: number;
  /** Entries (files and directories) in the archive. @default 100000 */
  readonly maxEntries: number;
  /** Path components below the release root. @default 64 */
  readonly maxDepth: number;
}

/** A command the agent runs: an argv array, or a string for /bin/sh -c. */
export type AgentCommand = string | readonly string[];

/** How this host's load balancer is driven for apps that declare `traffic` (docs/traffic.md). */
export interface TrafficSettings {
  /** 'nginx': the agent writes each app's upstream file; 'hooks': only the hook commands run. @default 'none' */
  readonly balancer: 'none' | 'nginx' | 'hooks';
  readonly nginx: {
    /** The directory the agent writes `flotilla-<app>.conf` upstream files into; nothing else there is touched. @default '/etc/nginx/flotilla' */
    readonly includeDir: string;
    /** Validates the whole configuration before a reload. @default ['nginx', '-t'] */
    readonly testCommand: AgentCommand;
    /** Makes nginx load the new configuration. @default ['nginx', '-s', 'reload'] */
    readonly reloadCommand: AgentCommand;
    /** Limit on each of the two commands. @default 30000 (30s) */
    readonly commandTimeoutMs: number;
  };
  /** Keep a client on one slot: nginx `ip_hash`, or `hash <key> consistent`. @default 'none' */
  readonly stickiness: 'none' | 'ip_hash' | { readonly hash: string };
  /** Idle keepalive connections per nginx worker to the upstream; 0 leaves keepalive off. @default 16 */
  readonly keepalive: number;
  /** How long in-flight requests get after a slot is drained, before its process is signalled. @default 2000 (2s) */
  readonly drainWaitMs: number;
  /** Commands for any other balancer; FLOTILLA_APP, FLOTILLA_SLOT, FLOTILLA_SLOT_ADDRESS and FLOTILLA_WEIGHT are in their environment. */
  readonly hooks: {
    readonly drain?: AgentCommand;
    readonly undrain?: AgentCommand;
    readonly weight?: AgentCommand;
    /** @default 30000 (30s) */
    readonly timeoutMs: number;
  };
}

/**
 * One app's traffic settings on this host (`apps.<app>.traffic`): where its slots listen here and
 * which nginx file, upstream and commands serve it, so several agents on one machine (or one
 * nginx in front of several) can each run the app. Absent fields keep the manifest's slots and
 * the host-wide `traffic.nginx` settings.
 */
export interface AppTrafficSettings {
  /** Replaces the manifest's `traffic.slots` on this host; used only when the release declares slots. @default the manifest's */
  readonly slots?: TrafficSpec['slots'];
  readonly nginx?: {
    /** The upstream file for this app. @default `<traffic.nginx.includeDir>/flotilla-<app>.conf` */
    readonly includeFile?: string;
    /** The upstream's name, what `proxy_pass` points at. @default `flotilla_<app>` */
    readonly upstream?: string;
    /** @default traffic.nginx.testCommand */
    readonly testCommand?: AgentCommand;
    /** @default traffic.nginx.reloadCommand */
    readonly reloadCommand?: AgentCommand;
  };
}

/** Per-app settings on this host (`apps.<app>`). */
export interface AppHostSettings {
  readonly env: Readonly<Record<string, string>>;
  readonly runAs?: string;
  readonly traffic?: AppTrafficSettings;
}

/** The agent's settings, parsed once at start, fully defaulted and frozen. */
export interface AgentConfig {
  /** This host's id in subjects, assignments and the controller's records. @default the hostname, made valid */
  readonly hostId: string;
  /** Labels rollouts select hosts by. @default {} */
  readonly labels: Readonly<Record<string, string>>;
  readonly nats: {
    /** @default ['nats://127.0.0.1:4222'] */
    readonly servers: readonly string[];
    /** @default none */
    readonly user?: string;
    /** @default none */
    readonly password?: string;
    /** @default none */
    readonly token?: string;
    /** First token of every subject. @default 'flotilla' */
    readonly subjectPrefix: string;
    /** TLS to nats-server (CA, and a client certificate for mutual TLS). @default none: plaintext */
    readonly tls?: NatsTlsSettings;
  };
  readonly controller: {
    /** gRPC address artifacts are downloaded from: the first of `addresses`. @default '127.0.0.1:7400' */
    readonly address: string;
    /**
     * Every controller to download from, in order of preference (a comma-separated list in flags
     * and FLOTILLA_CONTROLLER): when one stops answering the download resumes on the next.
     * @default ['127.0.0.1:7400']
     */
    readonly addresses: readonly string[];
    /** Bearer token for the controller's gRPC API (FLOTILLA_API_TOKEN). @default none */
    readonly token?: string;
    /** TLS: the fleet CA and this host's own certificate and key (see `flotilla tls`). @default none */
    readonly tls?: { readonly ca: string; readonly cert: string; readonly key: string };
  };
  /** Releases, the download cache and state.json live here (absolute). @default '/var/lib/flotilla' */
  readonly dataDir: string;
  /** Paths of the release signers' public keys. Required: at least one. */
  readonly trustedKeys: readonly string[];
  /** Paths of the controller's public keys (they verify assignments). Required: at least one. */
  readonly controllerPublicKeys: readonly string[];
  /** @default 5000 (5s) */
  readonly heartbeatIntervalMs: number;
  /** Unpacked releases kept per app; current, previous and stable are never removed. @default 5 */
  readonly keepReleases: number;
  /** How much of the download cache is kept (cache-retention.ts). @default { keep: 3, maxBytes: 2 GiB } */
  readonly cache: CacheRetention;
  /**
   * Free space the data directory's filesystem must keep after a download: a size, or a share
   * of the filesystem (`5%`); `0` turns the check off. A download that would go below it is not
   * started (a transient install failure naming the sizes). @default 512 MiB
   */
  readonly minFreeSpace: FreeSpaceFloor;
  /**
   * Per-app settings; `env` wins over the manifest's start.env; `runAs` names the system user the
   * app's processes run as (wins over `appUser`); `traffic` places its slots and upstream on this
   * host. @default {}
   */
  readonly apps: Readonly<Record<string, AppHostSettings>>;
  /**
   * The system user apps run as, so that they cannot read the agent's credentials, keys or state.
   * @default 'flotilla-app' when the agent runs as root; otherwise none (apps share the agent's user, logged loudly)
   */
  readonly appUser?: string;
  /** Run apps as the agent's own user even when it could switch (insecure; logged at every start). @default false */
  readonly runAppsAsAgent: boolean;
  readonly unpack: UnpackLimitSettings;
  readonly traffic: TrafficSettings;
  readonly log: {
    /** @default 'info' */
    readonly level: LogLevel;
    /** Human-readable lines. @default true on a terminal */
    readonly pretty?: boolean;
  };
  /** The release public keys, read from `trustedKeys` at start. */
  readonly releaseKeys: readonly TrustedKey[];
  /** The controller public keys, read from `controllerPublicKeys` at start. */
  readonly controllerKeys: readonly TrustedKey[];
}

export const DEFAULT_DATA_DIR = '/var/lib/flotilla';
export const DEFAULT_NATS_SERVER = 'nats://127.0.0.1:4222';
export const DEFAULT_CONTROLLER_ADDRESS = '127.0.0.1:7400';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// What useradd accepts (and a numeric uid, which getent also resolves).
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

// Sizes are read by the one parser in shared; re-exported here for the agent's own callers.
export { parseByteSize };

/**
 * Reads `--app-env APP:NAME=VALUE` flags into `{ APP: { env: { NAME: VALUE } } }`. The value may
 * be empty and may itself hold ':' and '='; later flags win over earlier ones.
 */
export function parseAppEnv(entries: readonly string[]): Record<string, { env: Record<string, string> }> {
  const apps: Record<string, { env: Record<string, string> }> = {};
  for (const entry of entries) {
    const colon = entry.indexOf(':');
    const eq = entry.indexOf('=', colon + 1);
    if (colon <= 0 || eq < 0) {
      throw new ConfigError(`--app-env "${entry}" is not APP:NAME=VALUE (for example web:PORT=8080)`);
    }
    const app = entry.slice(0, colon);
    const name = entry.slice(colon + 1, eq);
    if (!APP_NAME.test(app)) {
      throw new ConfigError(`--app-env "${entry}": "${app}" is not a valid app name`);
    }
    if (!ENV_NAME.test(name)) {
      throw new ConfigError(`--app-env "${entry}": "${name}" is not a valid environment variable name`);
    }
    (apps[app] ??= { env: {} }).env[name] = entry.slice(eq + 1);
  }
  return apps;
}

// The issue path already names the setting, so the messages below start with the value.
const durationField = () =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parseDuration(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (use forms like 500ms, 30s, 5m, 1h)` });
      return z.NEVER;
    }
  });

const byteSizeField = () =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parseByteSize(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a size (use bytes or forms like 512MiB, 2GB)` });
      return z.NEVER;
    }
  });

const freeSpaceField = () =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parseFreeSpaceFloor(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: errorMessage(err) });
      return z.NEVER;
    }
  });

/** Labels come as a mapping (file) or as `k=v` strings (FLOTILLA_LABELS, --label). */
const labelsField = z
  .union([z.record(z.string(), z.string()), z.array(z.string())])
  .transform((v, ctx) => {
    if (!Array.isArray(v)) return v;
    try {
      return parseLabels(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: errorMessage(err) });
      return z.NEVER;
    }
  })
  .pipe(
    z.record(
      z.string().regex(LABEL_KEY, 'is not a valid label key'),
      z.string().regex(LABEL_VALUE, 'is not a valid label value'),
    ),
  );

const keyPaths = (flag: string, what: string) =>
  z
    .array(z.string().min(1))
    .prefault([])
    .refine((paths) => paths.length > 0, { message: `name at least one ${what} (${flag} PATH)` });

const secret = z.string().min(1).optional();

const commandSetting = z.union([z.string().min(1, 'must not be empty'), z.array(z.string().min(1)).min(1, 'must name a program')]);

const trafficSchema = z
  .object({
    balancer: z.enum(['none', 'nginx', 'hooks']).default('none'),
    nginx: z
      .object({
        includeDir: z.string().min(1).default('/etc/nginx/flotilla'),
        testCommand: commandSetting.default(['nginx', '-t']),
        reloadCommand: commandSetting.default(['nginx', '-s', 'reload']),
        commandTimeout: durationField().pipe(z.number().min(100).max(600_000)).prefault('30s'),
      })
      .strict()
      .transform(({ commandTimeout, includeDir, ...rest }) => ({
        ...rest,
        includeDir: resolve(includeDir),
        commandTimeoutMs: commandTimeout,
      }))
      .prefault({}),
    stickiness: z
      .union([
        z.enum(['none', 'ip_hash']),
        // The key goes into nginx's config verbatim: only variables and plain characters.
        z.object({ hash: z.string().regex(/^[$A-Za-z0-9_:.-]+$/, 'is not an nginx hash key such as $cookie_session') }).strict(),
      ])
      .default('none'),
    keepalive: z.number().int().min(0).max(10_000).default(16),
    drainWait: durationField().pipe(z.number().min(0).max(3_600_000)).prefault('2s'),
    hooks: z
      .object({
        drain: commandSetting.optional(),
        undrain: commandSetting.optional(),
        weight: commandSetting.optional(),
        timeout: durationField().pipe(z.number().min(100).max(600_000)).prefault('30s'),
      })
      .strict()
      .transform(({ timeout, ...rest }) => ({ ...rest, timeoutMs: timeout }))
      .prefault({}),
  })
  .strict()
  .transform(({ drainWait, ...rest }) => ({ ...rest, drainWaitMs: drainWait }))
  .prefault({});

const appTrafficSchema = z
  .object({
    slots: trafficSlotsSchema.optional(),
    nginx: z
      .object({
        // Renamed into place from a dot-file beside it, so the directory must be the agent's to write.
        includeFile: z
          .string()
          .regex(/\.conf$/, 'must name a .conf file')
          .transform((p) => resolve(p))
          .optional(),
        // Goes into nginx's config verbatim, and an operator's proxy_pass names it.
        upstream: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'is not an nginx upstream name (1-64 letters, digits or _)').optional(),
        testCommand: commandSetting.optional(),
        reloadCommand: commandSetting.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Two apps writing one upstream file, or two upstreams of one name in one nginx, would undo each
 * other's traffic: refused at start, naming the second app's field.
 */
function uniqueUpstreams(
  apps: Readonly<Record<string, { readonly traffic?: AppTrafficSettings | undefined }>>,
  includeDir: string,
  ctx: z.RefinementCtx,
): void {
  const files = new Map<string, string>();
  const names = new Map<string, string>();
  for (const [app, settings] of Object.entries(apps)) {
    const own = settings.traffic?.nginx;
    const file = own?.includeFile ?? resolve(includeDir, `flotilla-${app}.conf`);
    const name = own?.upstream ?? `flotilla_${app}`;
    const fileOf = files.get(file);
    if (fileOf !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['apps', app, 'traffic', 'nginx', 'includeFile'], message: `is also the upstream file of app ${fileOf}` });
    }
    const nameOf = names.get(name);
    if (nameOf !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['apps', app, 'traffic', 'nginx', 'upstream'], message: `${name} is also the upstream of app ${nameOf}` });
    }
    files.set(file, app);
    names.set(name, app);
  }
}

export const agentConfigSchema = z
  .object({
    hostId: z
      .string()
      .regex(HOST_ID, "is not a valid host id (1-128 letters, digits, '-' or '_')")
      .default(() => hostIdFromHostname(hostname())),
    labels: labelsField.prefault({}),
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
        subjectPrefix: z.string().regex(SUBJECT_PREFIX, 'is not a valid subject prefix').default('flotilla'),
        tls: natsTlsSchema,
      })
      .strict()
      .transform(natsCredentialsFromUrls)
      .prefault({}),
    controller: z
      .object({
        address: z
          .union([z.string(), z.array(z.string())])
          .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== ''))
          .pipe(z.array(z.string().regex(HOST_PORT, 'is not HOST:PORT')).min(1, 'name at least one controller'))
          .prefault([DEFAULT_CONTROLLER_ADDRESS]),
        token: secret,
        tls: z
          .object({
            ca: z.string().min(1).transform((p) => resolve(p)),
            cert: z.string().min(1).transform((p) => resolve(p)),
            key: z.string().min(1).transform((p) => resolve(p)),
          })
          .strict()
          .optional(),
      })
      .strict()
      .transform(({ address, ...rest }) => ({ ...rest, address: address[0] as string, addresses: address }))
      .prefault({}),
    dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
    trustedKeys: keyPaths('--trusted-key', 'trusted release public key'),
    controllerPublicKeys: keyPaths('--controller-public-key', 'controller public key'),
    heartbeatInterval: durationField()
      .pipe(z.number().min(100, 'must be at least 100ms').max(3_600_000, 'must be at most 1h'))
      .prefault('5s'),
    keepReleases: z.number().int().min(1).max(1000).default(5),
    cache: z
      .object({ keep: z.number().int().min(0).max(1000).default(3), maxBytes: byteSizeField().prefault('2GiB') })
      .strict()
      .prefault({}),
    minFreeSpace: freeSpaceField().prefault('512MiB'),
    apps: z
      .record(
        z.string().regex(APP_NAME, 'is not a valid app name'),
        z
          .object({
            env: z.record(z.string().regex(ENV_NAME, 'is not a valid variable name'), z.string()).default({}),
            runAs: z.string().regex(USER_NAME, 'is not a valid user name').optional(),
            traffic: appTrafficSchema.optional(),
          })
          .strict(),
      )
      .default({}),
    appUser: z.string().regex(USER_NAME, 'is not a valid user name').optional(),
    runAppsAsAgent: z.boolean().default(false),
    unpack: z
      .object({
        maxBytes: byteSizeField().prefault('2GiB'),
        maxEntries: z.number().int().positive().default(100_000),
        maxDepth: z.number().int().positive().max(1024).default(64),
      })
      .strict()
      .prefault({}),
    traffic: trafficSchema,
    log: z
      .object({ level: z.enum(LOG_LEVELS).default('info'), pretty: z.boolean().optional() })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine(({ apps, traffic }, ctx) => uniqueUpstreams(apps, traffic.nginx.includeDir, ctx))
  .transform(({ heartbeatInterval, dataDir, ...rest }) => ({
    ...rest,
    dataDir: resolve(dataDir),
    heartbeatIntervalMs: heartbeatInterval,
  }));

export const AGENT_ENV: Readonly<Record<string, EnvBinding>> = Object.freeze({
  FLOTILLA_HOST_ID: { path: 'hostId' },
  FLOTILLA_LABELS: { path: 'labels', kind: 'list' },
  FLOTILLA_NATS_SERVERS: { path: 'nats.servers', kind: 'list' },
  FLOTILLA_NATS_USER: { path: 'nats.user' },
  FLOTILLA_NATS_PASSWORD: { path: 'nats.password' },
  FLOTILLA_NATS_TOKEN: { path: 'nats.token' },
  FLOTILLA_NATS_TLS_CA: { path: 'nats.tls.caFile' },
  FLOTILLA_NATS_TLS_CERT: { path: 'nats.tls.certFile' },
  FLOTILLA_NATS_TLS_KEY: { path: 'nats.tls.keyFile' },
  FLOTILLA_CONTROLLER: { path: 'controller.address' },
  FLOTILLA_API_TOKEN: { path: 'controller.token' },
  FLOTILLA_TLS_CA: { path: 'controller.tls.ca' },
  FLOTILLA_TLS_CERT: { path: 'controller.tls.cert' },
  FLOTILLA_TLS_KEY: { path: 'controller.tls.key' },
  FLOTILLA_DATA_DIR: { path: 'dataDir' },
  FLOTILLA_TRUSTED_KEYS: { path: 'trustedKeys', kind: 'list' },
  FLOTILLA_CONTROLLER_PUBLIC_KEYS: { path: 'controllerPublicKeys', kind: 'list' },
  FLOTILLA_HEARTBEAT_INTERVAL: { path: 'heartbeatInterval' },
  FLOTILLA_MIN_FREE_SPACE: { path: 'minFreeSpace' },
  FLOTILLA_APP_USER: { path: 'appUser' },
  FLOTILLA_RUN_APPS_AS_AGENT: { path: 'runAppsAsAgent', kind: 'boolean' },
  FLOTILLA_LOG_LEVEL: { path: 'log.level' },
});

/** Shapes parsed flags like the config file, so that they can win over it key by key. */
export function flagOverrides(flags: AgentFlags): Record<string, unknown> {
  let keepReleases: number | undefined;
  if (flags.keepReleases !== undefined) {
    if (!/^\d+$/.test(flags.keepReleases)) {
      throw new ConfigError(`${PROGRAM}: --keep-releases "${flags.keepReleases}" is not a whole number`);
    }
    keepReleases = Number(flags.keepReleases);
  }
  return {
    hostId: flags.hostId,
    labels: flags.label,
    nats: { servers: flags.nats },
    controller: { address: flags.controller },
    dataDir: flags.dataDir,
    trustedKeys: flags.trustedKey,
    controllerPublicKeys: flags.controllerPublicKey,
    heartbeatInterval: flags.heartbeatInterval,
    keepReleases,
    apps: flags.appEnv ? parseAppEnv(flags.appEnv) : undefined,
    log: { level: flags.logLevel, pretty: flags.logPretty },
  };
}

function loadKeys(paths: readonly string[], setting: string): readonly TrustedKey[] {
  try {
    return Object.freeze(loadTrustedKeys(paths).map((k) => Object.freeze({ ...k })));
  } catch (err) {
    throw new ConfigError(`${PROGRAM} config: ${setting}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Builds the config from parsed flags, the environment and the file `--config` names. */
export function agentConfigFromFlags(
  flags: AgentFlags,
  environment: Readonly<Record<string, string | undefined>>,
): AgentConfig {
  const base = loadConfig({
    program: PROGRAM,
    schema: agentConfigSchema,
    file: flags.config,
    env: AGENT_ENV,
    environment,
    overrides: flagOverrides(flags),
  });
  if (base.controller.tls) {
    try {
      checkHostCertificate(base.controller.tls, base.hostId);
    } catch (err) {
      throw new ConfigError(`${PROGRAM} config is invalid: ${errorMessage(err)}`, { cause: err });
    }
  }
  return Object.freeze({
    ...base,
    releaseKeys: loadKeys(base.trustedKeys, 'trustedKeys'),
    controllerKeys: loadKeys(base.controllerPublicKeys, 'controllerPublicKeys'),
  });
}

/**
 * The agent's configuration from, in rising priority: defaults, the YAML file (`--config`),
 * FLOTILLA_* variables and flags. Key files are read and parsed here, so that a bad key stops
 * the agent at start with a ConfigError naming the file.
 */
export function loadAgentConfig(
  argv: readonly string[],
  environment: Readonly<Record<string, string | undefined>>,
): AgentConfig {
  return agentConfigFromFlags(parseAgentFlags(argv), environment);
}
