import { z } from 'zod';
import { parseDuration } from './duration.js';
import { ManifestError } from './errors.js';

/** The file at the root of every release tarball that says how to run the app. */
export const MANIFEST_FILE = 'flotilla.json';

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGKILL'] as const;

const durationField = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return parseDuration(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

/** A command: an argv array run directly, or a string run by /bin/sh -c. */
const commandField = z.union([
  z.string().min(1, 'must not be empty'),
  z.array(z.string()).min(1, 'must name a program'),
]);

const envField = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not a valid variable name'), z.string());

const hookSchema = z
  .object({ command: commandField, timeout: durationField('60s') })
  .strict();

const healthSchema = z
  .object({
    http: z
      .object({
        url: z.string().regex(/^https?:\/\//, 'must start with http:// or https://'),
        expectStatus: z.array(z.number().int().min(100).max(599)).optional(),
      })
      .strict()
      .optional(),
    tcp: z
      .object({ host: z.string().default('127.0.0.1'), port: z.union([z.number().int().min(1).max(65535), z.string()]) })
      .strict()
      .optional(),
    command: commandField.optional(),
    interval: durationField('2s'),
    timeout: durationField('1s'),
    /** Failures during this long after start do not count against the app. */
    startPeriod: durationField('0s'),
    /** Consecutive failures that make a healthy app unhealthy. */
    failureThreshold: z.number().int().min(1).max(100).default(3),
    /** Consecutive successes that make an app healthy. */
    successThreshold: z.number().int().min(1).max(100).default(1),
  })
  .strict()
  .refine((h) => [h.http, h.tcp, h.command].filter((x) => x !== undefined).length === 1, {
    message: 'must have exactly one of http, tcp or command',
  });

/** One of the two places a release of the app can listen: a loopback port or a unix socket. */
const slotSchema = z
  .object({
    /** The address the balancer connects to; the app should bind it. */
    host: z.string().regex(/^[A-Za-z0-9.:-]+$/, 'is not a host name or address').default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).optional(),
    /** Absolute path of a unix socket. */
    socket: z.string().regex(/^\/[^\s;{}'"]+$/, 'must be an absolute path without spaces, quotes, ";" or braces').optional(),
  })
  .strict()
  .refine((s) => (s.port === undefined) !== (s.socket === undefined), { message: 'must have exactly one of port or socket' });

/**
 * The two slots, as a manifest declares them and as an agent's config may replace them on one
 * host (several agents on one machine cannot share ports).
 */
export const trafficSlotsSchema = z
  .tuple([slotSchema, slotSchema])
  .refine(([a, b]) => (a.socket ?? `${a.host}:${a.port}`) !== (b.socket ?? `${b.host}:${b.port}`), {
    message: 'the two slots must differ',
  });

/**
 * Served behind a load balancer: the new release starts in the slot the running one does not use,
 * and traffic moves between the two by weight (docs/traffic.md).
 */
const trafficSchema = z.object({ slots: trafficSlotsSchema }).strict();

const manifestSchema = z
  .object({
    schema: z.literal(1).default(1),
    app: z.string().optional(),
    version: z.string().optional(),
    start: z
      .object({
        command: commandField,
        env: envField.default({}),
        /** Working directory relative to the release root. */
        cwd: z.string().default('.'),
      })
      .strict(),
    stop: z
      .object({ signal: z.enum(SIGNALS).default('SIGTERM'), timeout: durationField('10s') })
      .strict()
      .prefault({}),
    health: healthSchema.optional(),
    traffic: trafficSchema.optional(),
    hooks: z
      .object({
        /** Runs in the new release before `current` switches to it; failing it aborts the activation. */
        preActivate: hookSchema.optional(),
        /** Runs after the new process started; failing it is reported but does not stop the app. */
        postStart: hookSchema.optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Manifest = z.output<typeof manifestSchema>;
export type HealthCheckSpec = NonNullable<Manifest['health']>;
export type HookSpec = z.output<typeof hookSchema>;
export type CommandSpec = z.output<typeof commandField>;
export type TrafficSpec = z.output<typeof trafficSchema>;
export type SlotSpec = TrafficSpec['slots'][number];

/**
 * Parses and validates flotilla.json text. When `expect` is given, a manifest that names another
 * app or version is refused. Throws ManifestError naming the field at fault.
 */
export function parseManifest(text: string, expect: { app?: string; version?: string } = {}): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`${MANIFEST_FILE} is not valid JSON: ${(err as Error).message}`);
  }
  const r = manifestSchema.safeParse(value);
  if (!r.success) {
    const problems = r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new ManifestError(`${MANIFEST_FILE} is invalid: ${problems}`);
  }
  const m = r.data;
  if (m.start.cwd.startsWith('/') || m.start.cwd.split('/').includes('..')) {
    throw new ManifestError(`${MANIFEST_FILE} is invalid: start.cwd must stay inside the release`);
  }
  if (expect.app !== undefined && m.app !== undefined && m.app !== expect.app) {
    throw new ManifestError(`${MANIFEST_FILE} names app "${m.app}", but the release is for "${expect.app}"`);
  }
  if (expect.version !== undefined && m.version !== undefined && m.version !== expect.version) {
    throw new ManifestError(`${MANIFEST_FILE} names version "${m.version}", but the release is ${expect.version}`);
  }
  return Object.freeze(m);
}

/** Expands `${NAME}` references from `env`; unknown names are left as they are. */
export function expandEnv(text: string, env: Readonly<Record<string, string | undefined>>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => env[name] ?? whole);
}
