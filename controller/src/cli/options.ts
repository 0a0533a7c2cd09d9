import { userInfo } from 'node:os';
import { ValidationError, parseDuration } from '@flotilla/shared';
import type { ConnectOptions } from './client.js';
import type { CliContext } from './context.js';
import { failoverClient } from './failover.js';

export const DEFAULT_CONTROLLER = '127.0.0.1:7400';
export const DEFAULT_TIMEOUT = '30s';

/** The global flags as commander hands them over (every one optional). */
export interface RawGlobalOptions {
  controller?: string | undefined;
  token?: string | undefined;
  json?: boolean | undefined;
  timeout?: string | undefined;
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
}

/** The global flags, checked and defaulted: flag, then environment, then default. */
export interface GlobalOptions {
  /** Options of the first controller named. */
  readonly connect: ConnectOptions;
  /** Every controller named (`--controller a:7400,b:7400`), in order of preference. */
  readonly controllers: readonly string[];
  readonly json: boolean;
}

// HOST:PORT, [v6]:PORT, or a gRPC target with a scheme (dns:, unix:, ipv4:, ipv6:).
const ADDRESS = /^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):\d{1,5}$|^(?:dns|unix|unix-abstract|ipv4|ipv6):.+$/;

export function resolveGlobals(raw: RawGlobalOptions, env: CliContext['env']): GlobalOptions {
  const controllers = (raw.controller ?? env['FLOTILLA_CONTROLLER'] ?? DEFAULT_CONTROLLER)
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (controllers.length === 0) controllers.push('');
  for (const a of controllers) {
    if (!ADDRESS.test(a)) throw new ValidationError(`controller address "${a}" is not HOST:PORT (for example 127.0.0.1:7400)`);
  }
  const address = controllers[0] as string;
  const timeoutMs = parseDuration(raw.timeout ?? DEFAULT_TIMEOUT, '--timeout');
  if (timeoutMs <= 0) throw new ValidationError('--timeout must be longer than zero');
  const token = raw.token ?? env['FLOTILLA_API_TOKEN'];
  const ca = raw.tlsCa ?? env['FLOTILLA_TLS_CA'];
  const cert = raw.tlsCert ?? env['FLOTILLA_TLS_CERT'];
  const key = raw.tlsKey ?? env['FLOTILLA_TLS_KEY'];
  if (Boolean(cert) !== Boolean(key)) throw new ValidationError('--tls-cert and --tls-key go together (a client certificate and its key)');
  if (cert && !ca) throw new ValidationError('--tls-cert needs --tls-ca: the CA the controller\'s certificate chains to');
  const tls = ca ? Object.freeze({ ca, ...(cert && key ? { cert, key } : {}) }) : undefined;
  return Object.freeze({
    connect: Object.freeze({ address, token: token ? token : undefined, timeoutMs, ...(tls ? { tls } : {}) }),
    controllers: Object.freeze(controllers),
    json: raw.json === true,
  });
}

/** Opens a client, runs `body` with it and always closes it, so the process can exit. */
export async function withController<T>(
  ctx: CliContext,
  globals: GlobalOptions,
  body: (client: ReturnType<CliContext['connect']>) => Promise<T>,
): Promise<T> {
  const client =
    globals.controllers.length > 1
      ? failoverClient(
          globals.controllers,
          globals.connect,
          (o) => ctx.connect(o),
          (failed, next) => ctx.err.write(`warning: ${failed.message}; sending the upload again, whole, to ${next}\n`),
        )
      : ctx.connect(globals.connect);
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

/**
 * Who runs the command, as the rollout's event log records it: FLOTILLA_ACTOR, else the login
 * name. Characters the controller does not take in a name become '-'.
 */
export function actorOf(env: CliContext['env']): string {
  const raw = (env['FLOTILLA_ACTOR'] || env['USER'] || env['LOGNAME'] || loginName()).trim();
  const cleaned = raw.replace(/[^A-Za-z0-9._@+-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return cleaned || 'unknown';
}

function loginName(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers).
    return 'unknown';
  }
}
