import { connect, type NatsConnection } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import { UnavailableError, ValidationError, errorMessage, natsTlsOption, natsTlsSchema } from '@flotilla/shared';
import { migrateStreams, type StreamMigration } from '../../store/migrate.js';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { formatBytes, toJson } from '../format.js';
import { resolveGlobals, type RawGlobalOptions } from '../options.js';

export interface NatsMigrateOptions extends RawGlobalOptions {
  /** The NATS server(s) holding the state now, comma-separated. */
  from: string;
  /** The cluster's servers, comma-separated. */
  to: string;
  /** @default 3 */
  replicas?: string | undefined;
  /** Replace target streams that hold other data. @default false */
  force?: boolean | undefined;
  fromUser?: string | undefined;
  toUser?: string | undefined;
  /** TLS to each side: the CA its server's certificate chains to, and a client certificate and key for a server that verifies clients. */
  fromTlsCa?: string | undefined;
  fromTlsCert?: string | undefined;
  fromTlsKey?: string | undefined;
  toTlsCa?: string | undefined;
  toTlsCert?: string | undefined;
  toTlsKey?: string | undefined;
}

/**
 * `flotilla nats migrate --from nats://old:4222 --to nats://n1:4222,nats://n2:4222,...`: copies a
 * controller's state (every KV bucket, the releases object store, queued commands) onto another
 * NATS, a cluster, with the target's replicas, and checks each copy against the source. Run with
 * the source's controllers stopped. Passwords come from the environment, never the command line.
 */
export async function natsMigrate(opts: NatsMigrateOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const replicas = Number(opts.replicas ?? '3');
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new ValidationError(`--replicas ${opts.replicas} is not a whole number from 1 to 5`);
    const from = serverList(opts.from, '--from');
    const to = serverList(opts.to, '--to');
    if (from.some((s) => to.includes(s))) throw new ValidationError('--from and --to name the same server: the target must be another NATS');
    const fromTls = tlsOf('from', opts.fromTlsCa, opts.fromTlsCert, opts.fromTlsKey);
    const toTls = tlsOf('to', opts.toTlsCa, opts.toTlsCert, opts.toTlsKey);
    const source = await open(from, 'source', opts.fromUser, ctx.env['FLOTILLA_FROM_NATS_PASSWORD'], fromTls);
    try {
      const target = await open(to, 'target', opts.toUser, ctx.env['FLOTILLA_TO_NATS_PASSWORD'], toTls);
      try {
        const done = await migrateStreams(source, target, {
          replicas,
          force: opts.force === true,
          onStream: (s) => {
            if (!globals.json) ctx.out.write(`${line(s)}\n`);
          },
        });
        if (globals.json) ctx.out.write(toJson({ replicas, streams: done }));
        else {
          const copied = done.filter((s) => s.outcome === 'copied').length;
          ctx.out.write(`${done.length} streams checked, ${copied} copied, ${done.length - copied} already there; every copy matches its source\n`);
        }
        return EXIT.OK;
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
  });
}

function line(s: StreamMigration): string {
  const what = s.outcome === 'copied' ? 'copied' : 'already there';
  return `${s.stream.padEnd(32)} ${what.padEnd(13)} ${String(s.messages).padStart(7)} messages ${formatBytes(s.bytes).padStart(9)}  R${s.replicas}  sha256 ${s.sha256.slice(0, 16)}`;
}

function serverList(raw: string, flag: string): string[] {
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new ValidationError(`${flag} names no NATS server`);
  for (const s of list) {
    if (!/^(nats|tls):\/\/[^\s/@]+$/.test(s) && !/^[^\s/@:]+:\d+$/.test(s)) {
      throw new ValidationError(`${flag}: "${s}" is not a NATS server address (nats://HOST:PORT)`);
    }
  }
  return list;
}

/**
 * One side's TLS settings from its flags, checked as `nats.tls` is in the programs' config (a
 * certificate goes with its key), each file read now so that a wrong path is named before any
 * connection; undefined when no flag asks for TLS (a `tls://` address still does).
 */
function tlsOf(side: 'from' | 'to', caFile: string | undefined, certFile: string | undefined, keyFile: string | undefined): ReturnType<typeof natsTlsOption> {
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return undefined;
  const parsed = natsTlsSchema.safeParse({ caFile, certFile, keyFile });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path[0];
    const flag = field === 'caFile' ? 'ca' : field === 'certFile' ? 'cert' : field === 'keyFile' ? 'key' : null;
    throw new ValidationError(
      flag ? `--${side}-tls-${flag}: ${issue?.message ?? 'invalid'}` : `--${side}-tls-cert and --${side}-tls-key go together (the client certificate and its key)`,
    );
  }
  for (const [flag, file] of [['ca', caFile], ['cert', certFile], ['key', keyFile]] as const) {
    if (file === undefined) continue;
    try {
      readFileSync(file);
    } catch (err) {
      throw new ValidationError(`--${side}-tls-${flag} ${file}: ${errorMessage(err)}`, { cause: err });
    }
  }
  return natsTlsOption(parsed.data);
}

async function open(
  servers: string[],
  side: string,
  user: string | undefined,
  pass: string | undefined,
  tls: ReturnType<typeof natsTlsOption>,
): Promise<NatsConnection> {
  try {
    return await connect({
      servers,
      name: `flotilla-migrate-${side}`,
      ...(user ? { user, pass: pass ?? '' } : {}),
      ...(tls ? { tls } : {}),
      timeout: 10_000,
      maxReconnectAttempts: 3,
    });
  } catch (err) {
    throw new UnavailableError(`cannot connect to the ${side} NATS at ${servers.join(', ')}: ${errorMessage(err)}`, { cause: err });
  }
}
