import { createHash } from 'node:crypto';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager, type StoredMsg, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { ConflictError, UnavailableError, errorMessage, CONFLICT_KIND } from '@flotilla/shared';

/**
 * Flotilla's streams: every KV bucket (`KV_flotilla_*`), the releases object store
 * (`OBJ_flotilla_releases`) and the command stream (`flotilla_commands`: commands handed to a
 * leader and not yet carried out).
 */
export const MIGRATED_STREAMS = /^(KV_|OBJ_)?flotilla_[A-Za-z0-9_-]+$/;

/** One stream's outcome. */
export interface StreamMigration {
  stream: string;
  /** `copied`: written to the target now; `present`: the target already held exactly these messages. */
  outcome: 'copied' | 'present';
  messages: number;
  bytes: number;
  /** SHA-256 over every message's subject, headers and data, in order: the same on both sides. */
  sha256: string;
  replicas: number;
}

export interface MigrateOptions {
  /** Replicas of every stream made on the target. */
  replicas: number;
  /** Replace streams of the target that hold other messages. @default false */
  force?: boolean;
  /** Called as each stream is done (progress for the operator). */
  onStream?: (done: StreamMigration) => void;
}

/** What a stream holds, message by message, as a digest. */
interface Digest {
  messages: number;
  bytes: number;
  sha256: string;
}

/**
 * Copies Flotilla's streams from `source` (one server, say) to `target` (a cluster), message by
 * message in order, subjects and headers kept, so KV histories, deletions and the object store's
 * chunks and metadata come out as they were. Idempotent: a target stream that already holds the
 * same messages is left as it is; one that holds anything else is refused (ConflictError) unless
 * `force`, which empties it first. Each copy is read back from the target and compared with the
 * source (count and digest). The source must be still (its controllers stopped): a stream that
 * changes during its copy fails the migration.
 */
export async function migrateStreams(source: NatsConnection, target: NatsConnection, opts: MigrateOptions): Promise<StreamMigration[]> {
  const from = await manager(source, 'source');
  const to = await manager(target, 'target');
  const names: string[] = [];
  for await (const name of from.streams.names()) if (MIGRATED_STREAMS.test(name)) names.push(name);
  names.sort();
  // Every refusal before anything is written: a half-migrated target helps nobody.
  const plans: { info: StreamInfo; digest: Digest; present: boolean }[] = [];
  const refused: string[] = [];
  for (const name of names) {
    const info = await from.streams.info(name);
    const digest = await digestOf(from, name, info.state.last_seq);
    const existing = await to.streams.info(name).catch(() => null);
    let present = false;
    if (existing) {
      const there = await digestOf(to, name, existing.state.last_seq);
      present = there.sha256 === digest.sha256 && there.messages === digest.messages;
      // An empty stream (a controller started on the target before the migration) is no data.
      if (!present && existing.state.messages > 0 && !opts.force) refused.push(`${name} (${existing.state.messages} messages)`);
    }
    plans.push({ info, digest, present });
  }
  if (refused.length > 0) {
    throw new ConflictError(`the target already holds other data in ${refused.join(', ')}; pass --force to replace it`, {
      details: { kind: CONFLICT_KIND.state, streams: refused },
    });
  }

  const js = jetstream(target);
  const done: StreamMigration[] = [];
  for (const { info, digest, present } of plans) {
    const name = info.config.name;
    if (present) {
      await ensureReplicas(to, name, opts.replicas);
      const result: StreamMigration = { stream: name, outcome: 'present', ...digest, replicas: opts.replicas };
      done.push(result);
      opts.onStream?.(result);
      continue;
    }
    await prepareTarget(to, info.config, opts.replicas);
    await eachMessage(from, name, info.state.last_seq, async (m) => {
      const h = copyHeaders(m.header);
      await js.publish(m.subject, m.data, { ...(h ? { headers: h } : {}), timeout: 30_000 });
    });
    const after = await from.streams.info(name);
    if (after.state.last_seq !== info.state.last_seq) {
      throw new ConflictError(`${name} changed on the source during the copy: stop every controller using it and run the migration again`, {
        details: { kind: CONFLICT_KIND.state, stream: name },
      });
    }
    const copied = await digestOf(to, name, (await to.streams.info(name)).state.last_seq);
    if (copied.sha256 !== digest.sha256 || copied.messages !== digest.messages) {
      throw new UnavailableError(
        `${name}: the target holds ${copied.messages} messages (sha256 ${copied.sha256}) after the copy, the source ${digest.messages} (sha256 ${digest.sha256})`,
      );
    }
    const result: StreamMigration = { stream: name, outcome: 'copied', ...digest, replicas: opts.replicas };
    done.push(result);
    opts.onStream?.(result);
  }
  return done;
}

async function manager(nc: NatsConnection, side: string): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc, { timeout: 10_000 });
  } catch (err) {
    throw new UnavailableError(`JetStream does not answer on the ${side}: ${errorMessage(err)}`, { cause: err });
  }
}

/** The target stream, made from the source's config with `replicas`, or emptied when it exists. */
async function prepareTarget(to: JetStreamManager, config: StreamConfig, replicas: number): Promise<void> {
  // Placement, mirrors and sources name the source's servers and streams: not the target's.
  const { mirror: _mirror, sources: _sources, placement: _placement, ...own } = config;
  const wanted = { ...own, num_replicas: replicas };
  const existing = await to.streams.info(config.name).catch(() => null);
  if (!existing) {
    await to.streams.add(wanted);
    return;
  }
  await to.streams.purge(config.name);
  await ensureReplicas(to, config.name, replicas);
}

async function ensureReplicas(to: JetStreamManager, name: string, replicas: number): Promise<void> {
  const info = await to.streams.info(name);
  if (info.config.num_replicas !== replicas) await to.streams.update(name, { ...info.config, num_replicas: replicas });
}

/** Every message of `stream` up to `lastSeq`, in order (one request each: the store is small, its order matters). */
async function eachMessage(jsm: JetStreamManager, stream: string, lastSeq: number, visit: (m: StoredMsg) => Promise<void>): Promise<void> {
  let seq = 1;
  // Bounded by the sequence numbers: each round moves past at least one.
  while (seq <= lastSeq) {
    const m = await jsm.streams.getMessage(stream, { seq, next_by_subj: '>' } as never).catch((err: unknown) => {
      if (/no message found/i.test(errorMessage(err))) return null;
      throw err;
    });
    if (!m || m.seq > lastSeq) return;
    await visit(m);
    seq = m.seq + 1;
  }
}

async function digestOf(jsm: JetStreamManager, stream: string, lastSeq: number): Promise<Digest> {
  const hash = createHash('sha256');
  let messages = 0;
  let bytes = 0;
  await eachMessage(jsm, stream, lastSeq, async (m) => {
    messages++;
    bytes += m.data.length;
    hash.update(`${m.subject}\n${headerText(m.header)}\n${m.data.length}\n`);
    hash.update(m.data);
  });
  return { messages, bytes, sha256: hash.digest('hex') };
}

/** Headers in a fixed order; the server's own (`Nats-` bookkeeping it adds on a get) left out. */
function headerText(h: MsgHdrs | undefined): string {
  if (!h) return '';
  const keys = [...h.keys()].filter(kept).sort();
  return keys.map((k) => `${k}:${h.values(k).join(',')}`).join(';');
}

/**
 * Headers a copy must carry: KV operations, rollups, message ids. Not the server's get
 * bookkeeping, nor the publisher's expectations (`Nats-Expected-*`, which a KV update stores with
 * its value): they held against the source's sequence numbers, and the target would refuse them.
 */
function kept(key: string): boolean {
  return !/^Nats-(Stream|Sequence|Time-Stamp|Subject|Last-Sequence|Num-Pending|Expected-.*)$/i.test(key);
}

function copyHeaders(h: MsgHdrs | undefined): MsgHdrs | undefined {
  if (!h) return undefined;
  const keys = [...h.keys()].filter(kept);
  if (keys.length === 0) return undefined;
  const out = natsHeaders();
  for (const k of keys) for (const v of h.values(k)) out.append(k, v);
  return out;
}
