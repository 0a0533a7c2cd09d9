import { connect, type NatsConnection } from '@nats-io/transport-node';
import { UnavailableError, ValidationError, errorMessage } from '@flotilla/shared';
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
    const source = await open(from, 'source', opts.fromUser, ctx.env['FLOTILLA_FROM_NATS_PASSWORD']);
    try {
      const target = await open(to, 'target', opts.toUser, ctx.env['FLOTILLA_TO_NATS_PASSWORD']);
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

async function open(servers: string[], side: string, user: string | undefined, pass: string | undefined): Promise<NatsConnection> {
  try {
    return await connect({
      servers,
      name: `flotilla-migrate-${side}`,
      ...(user ? { user, pass: pass ?? '' } : {}),
      timeout: 10_000,
      maxReconnectAttempts: 3,
    });
  } catch (err) {
    throw new UnavailableError(`cannot connect to the ${side} NATS at ${servers.join(', ')}: ${errorMessage(err)}`, { cause: err });
  }
}
