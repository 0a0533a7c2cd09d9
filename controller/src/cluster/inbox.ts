import { randomUUID } from 'node:crypto';
import { AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { UnavailableError, errorMessage, type Logger } from '@flotilla/shared';

/** The work-queue stream of writes handed to the leader, and its one consumer. */
export const COMMANDS_STREAM = 'flotilla_commands';
const LEADER_CONSUMER = 'leader';
/** Each command's outcome, kept an hour for a caller that missed the published one. */
export const COMMAND_RESULTS_BUCKET = 'flotilla_command_results';
const RESULT_TTL_MS = 60 * 60 * 1000;
/** The largest command: operator requests and alarms are a few KiB; the stream refuses more. */
const MAX_COMMAND_BYTES = 256 * 1024;
/** How soon a command put back while the lease is late is offered again, and a consumer that ended is taken up again. */
const RETRY_MS = 250;

/** A write accepted by some controller for the leader to carry out. */
export interface HandedCommand {
  readonly id: string;
  /** What to do (`alarm`, `grpc:Deploy`, ...): the executor's switch. */
  readonly kind: string;
  readonly body: unknown;
  /** The controller that accepted it, and when (its clock). */
  readonly from: string;
  readonly atMs: number;
}

/** How a command ended, as the leader tells the controller that accepted it. */
export type CommandResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string; readonly grpcStatus?: number } };

/** Carries out one command on the leader; its outcome goes back to the caller as is. */
export type CommandExecutor = (command: HandedCommand) => Promise<CommandResult>;

export interface InboxOptions {
  subjectPrefix: string;
  replicas: number;
  /** How long a command taken by a leader that died stays with it before another leader gets it. */
  ackWaitMs: number;
  /** This controller's id (names who accepted a command). */
  self: string;
  logger: Logger;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The hand-over of writes between controllers. Any controller `submit`s a command: it is
 * acknowledged once JetStream has it on a quorum of the stream's replicas, so it survives the
 * death of the controller that took it and of the leader. The leader `consume`s the stream one
 * command at a time and acknowledges each only after it is carried out, so a leader that dies
 * mid-command leaves it to the next (commands are carried out at least once; each is idempotent
 * or refused the second time, and a stored result stops a repeat of a finished one).
 */
export class CommandInbox {
  private consuming: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  /** Between consume() and stop(): commands should be carried out here. */
  private wanted = false;
  /** Counts consume() calls, so that one stopped (and followed by another) while it was setting up does not start. */
  private term = 0;
  private restart: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly results: KV,
    private readonly opts: InboxOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  static async open(nc: NatsConnection, opts: InboxOptions): Promise<CommandInbox> {
    try {
      const jsm = await jetstreamManager(nc);
      const config = {
        name: COMMANDS_STREAM,
        subjects: [commandSubject(opts.subjectPrefix)],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        num_replicas: opts.replicas,
        max_msg_size: MAX_COMMAND_BYTES,
        duplicate_window: nanos(2 * 60 * 1000),
      };
      const existing = await jsm.streams.info(COMMANDS_STREAM).catch(() => null);
      if (existing) await jsm.streams.update(COMMANDS_STREAM, config);
      else await jsm.streams.add(config);
      const consumer = {
        durable_name: LEADER_CONSUMER,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(opts.ackWaitMs),
        max_ack_pending: 1,
      };
      const hasConsumer = await jsm.consumers.info(COMMANDS_STREAM, LEADER_CONSUMER).catch(() => null);
      if (hasConsumer) await jsm.consumers.update(COMMANDS_STREAM, LEADER_CONSUMER, { ack_wait: consumer.ack_wait, max_ack_pending: 1 });
      else await jsm.consumers.add(COMMANDS_STREAM, consumer);
      const results = await new Kvm(nc).create(COMMAND_RESULTS_BUCKET, { history: 1, replicas: opts.replicas, ttl: RESULT_TTL_MS });
      return new CommandInbox(nc, results, opts);
    } catch (err) {
      throw new UnavailableError(`cannot open the command stream ${COMMANDS_STREAM}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Queues a command durably; resolves with its id once JetStream has acknowledged it. */
  async submit(kind: string, body: unknown): Promise<string> {
    const command: HandedCommand = { id: randomUUID(), kind, body, from: this.opts.self, atMs: this.now() };
    try {
      await jetstream(this.nc).publish(commandSubject(this.opts.subjectPrefix), JSON.stringify(command), { msgID: command.id });
    } catch (err) {
      throw new UnavailableError(`cannot hand the ${kind} to the leader: ${errorMessage(err)}`, { cause: err });
    }
    return command.id;
  }

  /**
   * Queues a command and waits (at most `timeoutMs`) for the leader's outcome. Null when none
   * came in time: the command is queued all the same and the leader carries it out.
   */
  async submitAndWait(kind: string, body: unknown, timeoutMs: number): Promise<{ id: string; result: CommandResult | null }> {
    const id = await this.submit(kind, body);
    const deadline = this.now() + timeoutMs;
    // The stored result is the one source: a leader that changes mid-command stores it once.
    for (let round = 0; this.now() < deadline && round < 100_000; round++) {
      const stored = await this.result(id).catch(() => null);
      if (stored) return { id, result: stored };
      await new Promise((r) => setTimeout(r, Math.min(50 + round * 25, 250)));
    }
    return { id, result: null };
  }

  /** The stored outcome of a command, or null. */
  async result(id: string): Promise<CommandResult | null> {
    const entry = await this.results.get(id);
    if (!entry || entry.operation !== 'PUT') return null;
    return JSON.parse(entry.string()) as CommandResult;
  }

  /**
   * Starts carrying out queued commands one by one (the leader only). `canAct` says whether this
   * controller may act as leader right now (its lease renewed in time): a command that comes while
   * it may not goes back to the queue (a nak with a short delay), for this controller once its
   * renewal lands or for the next leader, rather than being run to a sure refusal.
   */
  async consume(execute: CommandExecutor, canAct: () => boolean = () => true): Promise<void> {
    if (this.consuming || this.wanted) return;
    this.wanted = true;
    const term = ++this.term;
    const current = () => this.wanted && this.term === term;
    let messages: ConsumerMessages;
    try {
      const consumer = await jetstream(this.nc).consumers.get(COMMANDS_STREAM, LEADER_CONSUMER);
      messages = await consumer.consume({ max_messages: 1 });
    } catch (err) {
      if (current()) this.wanted = false;
      throw err;
    }
    // stop() came while the consumer was being set up: it must not start.
    if (!current()) {
      messages.stop();
      return;
    }
    this.consuming = messages;
    this.loop = (async () => {
      for await (const msg of messages) {
        // A message already in hand when stop() came, or one that came while the lease is
        // late: back to the queue at once, so that whoever leads next has it without waiting
        // for the ack wait (with one command in flight at most, it would hold up every other).
        if (!current() || !canAct()) {
          msg.nak(current() ? RETRY_MS : undefined);
          continue;
        }
        await this.handle(msg, execute);
      }
    })()
      .catch((err: unknown) => this.opts.logger.error({ err }, 'command consumer stopped'))
      .finally(() => {
        if (this.consuming !== messages) return;
        this.consuming = undefined;
        this.loop = undefined;
        if (!current()) return;
        // The consumer ended by itself (the server dropped it, say): take it up again, or the
        // leader would carry out no more commands until it next won the lease.
        this.wanted = false;
        this.opts.logger.warn({}, 'command consumer ended; consuming again');
        this.restart = setTimeout(() => {
          this.restart = undefined;
          this.consume(execute, canAct).catch((err: unknown) => this.opts.logger.error({ err }, 'cannot consume commands again'));
        }, RETRY_MS);
      });
  }

  /** Stops taking commands; the one in hand is finished first, any other goes back to the queue. */
  async stop(): Promise<void> {
    this.wanted = false;
    clearTimeout(this.restart);
    this.restart = undefined;
    const [consuming, loop] = [this.consuming, this.loop];
    consuming?.stop();
    await loop;
    if (this.consuming === consuming) {
      this.consuming = undefined;
      this.loop = undefined;
    }
  }

  private async handle(msg: JsMsg, execute: CommandExecutor): Promise<void> {
    let command: HandedCommand;
    try {
      command = JSON.parse(msg.string()) as HandedCommand;
      if (typeof command.id !== 'string' || typeof command.kind !== 'string') throw new Error('not a command');
    } catch (err) {
      // Only controllers publish here; a message that is not a command would block the queue.
      this.opts.logger.error({ err, seq: msg.seq }, 'dropping a malformed command');
      msg.term();
      return;
    }
    const log = this.opts.logger.child({ commandId: command.id, kind: command.kind, from: command.from });
    if (await this.result(command.id).catch(() => null)) {
      log.info({}, 'command already carried out; acknowledging it again');
      await msg.ackAck().catch(() => undefined);
      return;
    }
    // Tell JetStream we are still at it, so a long command is not handed to another leader.
    const keepAlive = setInterval(() => msg.working(), Math.max(100, Math.floor(this.opts.ackWaitMs / 3)));
    let result: CommandResult;
    try {
      result = await execute(command);
    } finally {
      clearInterval(keepAlive);
    }
    try {
      await this.results.put(command.id, JSON.stringify(result));
      await msg.ackAck();
      log.info({ ok: result.ok, redelivered: msg.info.deliveryCount > 1 }, 'command carried out');
    } catch (err) {
      // Not acknowledged: JetStream hands it out again, and the stored result (if any) stops a repeat.
      log.warn({ err }, 'cannot record a command as carried out');
    }
  }
}

export function commandSubject(prefix: string): string {
  return `${prefix}.v1.commands`;
}
