import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection, NodeConnectionOptions, Subscription } from '@nats-io/transport-node';
import {
  encodeMessage,
  hostInboxPrefix,
  natsTlsOption,
  signedAssignmentSchema,
  subjects,
  tickOfferOf,
  type Announce,
  type HeartbeatTickOffer,
  type Heartbeat,
  type Logger,
  type NatsTlsSettings,
  type SignedAssignment,
  type Subjects,
} from '@flotilla/shared';
import { HeartbeatForms } from './heartbeat-form.js';

/** Where a signed assignment came from, for logs. */
export type AssignmentSource = 'push' | 'sync';

export interface ControlLinkDeps {
  hostId: string;
  nats: {
    readonly servers: readonly string[];
    readonly user?: string;
    readonly password?: string;
    readonly token?: string;
    readonly subjectPrefix: string;
    readonly tls?: NatsTlsSettings;
  };
  heartbeatIntervalMs: number;
  logger: Logger;
  connect(opts: NodeConnectionOptions): Promise<NatsConnection>;
  /** Builds the announce message (inventory, labels) at the moment it is sent. */
  announce(): Announce;
  /** Builds the next heartbeat at the moment it is sent. */
  heartbeat(): Promise<Heartbeat>;
  /** A signed assignment arrived (pushed, or as a sync reply); called one at a time. */
  onAssignment(signed: SignedAssignment, source: AssignmentSource): Promise<void>;
  /** Debounce of the immediate heartbeat after a status change. @default 100 */
  heartbeatDebounceMs?: number;
  /** How long a sync request waits for its reply. @default 5000 */
  syncTimeoutMs?: number;
  /** Waits between unanswered sync requests: doubles from the first up to the second. @default [1000, 30000] */
  syncBackoffMs?: readonly [number, number];
}

const decoder = new TextDecoder();

/** Reads a signed assignment from a message body; null when it is not one. */
export function decodeSignedAssignment(data: Uint8Array): SignedAssignment | null {
  try {
    const r = signedAssignmentSchema.safeParse(JSON.parse(decoder.decode(data)));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * The agent's side of the control conversation over NATS: connect (retrying for ever), announce,
 * ask for the current assignment (sync, retried with back-off until answered), listen for pushed
 * assignments, send heartbeats on a timer and soon after any status change, and on every
 * reconnect announce and sync again, so that nothing depends on one message getting through.
 */
export class ControlLink {
  private readonly log: Logger;
  private readonly subjects: Subjects;
  private nc: NatsConnection | null = null;
  private closing = false;
  private stopped = new AbortController();
  private syncRound: AbortController | null = null;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private assignments: Promise<void> = Promise.resolve();
  private readonly tasks = new Set<Promise<unknown>>();
  private readonly forms = new HeartbeatForms();
  /** Ticks offered by the controller that answered the last sync; null: full heartbeats only. */
  private tickOffer: HeartbeatTickOffer | null = null;

  constructor(private readonly deps: ControlLinkDeps) {
    this.log = deps.logger.child({ component: 'control-link' });
    this.subjects = subjects(deps.nats.subjectPrefix);
  }

  get connected(): boolean {
    return this.nc !== null && !this.nc.isClosed();
  }

  /** Connects in the background; everything else follows from the connection. */
  start(): void {
    this.track(this.connectLoop());
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((err) => this.log.error({ err }, 'control link task failed'));
    this.tasks.add(t);
    void t.finally(() => this.tasks.delete(t));
  }

  private async connectLoop(): Promise<void> {
    while (!this.closing) {
      let nc: NatsConnection;
      const tls = natsTlsOption(this.deps.nats.tls);
      try {
        nc = await this.deps.connect({
          servers: [...this.deps.nats.servers],
          name: `flotilla-agent:${this.deps.hostId}`,
          // Replies to this host's requests arrive under `_INBOX_<hostId>.>`: the only inbox its
          // NATS user may subscribe to, and the only one the controller answers it in.
          inboxPrefix: hostInboxPrefix(this.deps.hostId),
          ...(tls ? { tls } : {}),
          ...(this.deps.nats.user !== undefined ? { user: this.deps.nats.user } : {}),
          ...(this.deps.nats.password !== undefined ? { pass: this.deps.nats.password } : {}),
          ...(this.deps.nats.token !== undefined ? { token: this.deps.nats.token } : {}),
          maxReconnectAttempts: -1,
          // Back within a second of the server: the controller gives hosts a few seconds after
          // its own reconnect before their silence counts.
          reconnectTimeWait: 1000,
          waitOnFirstConnect: true,
        });
      } catch (err) {
        this.log.error({ err, servers: this.deps.nats.servers }, 'cannot connect to NATS; retrying');
        if (!(await this.pause(5000))) return;
        continue;
      }
      if (this.closing) {
        await nc.close().catch(() => undefined);
        return;
      }
      this.nc = nc;
      this.log.info({ server: nc.getServer() }, 'connected to NATS');
      this.track(this.watchStatus(nc));
      this.track(this.listen(nc));
      this.heartbeatTimer = setInterval(() => void this.sendHeartbeat(), this.deps.heartbeatIntervalMs);
      this.onConnected();
      const closedWith = await nc.closed();
      clearInterval(this.heartbeatTimer);
      this.syncRound?.abort();
      this.nc = null;
      if (this.closing) return;
      // The client gives up only on errors it deems fatal (repeated authorization failures).
      this.log.error({ err: closedWith ?? undefined }, 'NATS connection closed; connecting again');
      if (!(await this.pause(5000))) return;
    }
  }

  /** Sleeps unless the link is closing; false when it is. */
  private async pause(ms: number, signal: AbortSignal = this.stopped.signal): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal });
      return true;
    } catch {
      return false;
    }
  }

  private onConnected(): void {
    // Whoever listens now may have missed the last full heartbeat, and may not take ticks: full
    // heartbeats until this connection's sync is answered with an offer.
    this.forms.reset();
    this.tickOffer = null;
    this.announce();
    this.startSync();
    void this.sendHeartbeat();
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.log.warn({ server: s.server }, 'disconnected from NATS');
          break;
        case 'reconnect':
          // The server may have restarted, the controller may have moved on: say who we are and
          // ask again for what to run.
          this.log.info({ server: s.server }, 'reconnected to NATS');
          this.onConnected();
          break;
        case 'error':
          this.log.warn({ err: s.error }, 'NATS reported an error');
          break;
        case 'staleConnection':
          this.log.warn('NATS connection is stale; reconnecting');
          break;
        default:
          break;
      }
    }
  }

  private async listen(nc: NatsConnection): Promise<void> {
    const sub: Subscription = nc.subscribe(this.subjects.assign(this.deps.hostId));
    for await (const m of sub) {
      const signed = decodeSignedAssignment(m.data);
      if (signed === null) {
        this.log.warn({ subject: m.subject, bytes: m.data.length }, 'malformed assignment message ignored');
        continue;
      }
      this.fullHeartbeatSoon();
      await this.deliver(signed, 'push');
    }
  }

  /** Hands assignments over one at a time, in arrival order. */
  private deliver(signed: SignedAssignment, source: AssignmentSource): Promise<void> {
    const next = this.assignments.then(() => this.deps.onAssignment(signed, source));
    this.assignments = next.catch((err) => this.log.error({ err, source }, 'handling an assignment failed'));
    return this.assignments;
  }

  private announce(): void {
    const nc = this.nc;
    if (nc === null || nc.isClosed()) return;
    try {
      nc.publish(this.subjects.announce(this.deps.hostId), encodeMessage(this.deps.announce()));
      this.log.debug('announced');
    } catch (err) {
      this.log.warn({ err }, 'announce failed');
    }
  }

  /** Asks the controller for the current assignment (and its key chain) again, now. */
  resync(): void {
    if (this.closing) return;
    this.startSync();
  }

  /** Asks for the current assignment until someone answers; a newer round replaces an older one. */
  private startSync(): void {
    this.syncRound?.abort();
    const round = new AbortController();
    this.syncRound = round;
    this.track(this.syncLoop(round.signal));
  }

  private async syncLoop(signal: AbortSignal): Promise<void> {
    const [first, max] = this.deps.syncBackoffMs ?? [1000, 30_000];
    const stop = AbortSignal.any([signal, this.stopped.signal]);
    let wait = first;
    for (let attempt = 1; !stop.aborted; attempt++) {
      const nc = this.nc;
      if (nc === null || nc.isClosed()) return;
      try {
        const reply = await nc.request(this.subjects.sync(this.deps.hostId), new Uint8Array(0), {
          timeout: this.deps.syncTimeoutMs ?? 5000,
        });
        if (stop.aborted) return;
        const body = JSON.parse(decoder.decode(reply.data)) as { type?: unknown; assignment?: unknown; keyChain?: unknown };
        if (body.type !== 'sync-reply') throw new Error('reply is not a sync-reply');
        this.tickOffer = tickOfferOf(body);
        // The controller's key rotations first, so that an assignment signed with a key this host
        // has not taken yet verifies once they are followed.
        if (Array.isArray(body.keyChain)) {
          for (const entry of body.keyChain.slice(0, 1000)) {
            const s = signedAssignmentSchema.safeParse(entry);
            if (s.success) await this.deliver(s.data, 'sync');
          }
        }
        if (body.assignment === null) {
          this.log.info('controller has no assignment for this host');
          return;
        }
        const r = signedAssignmentSchema.safeParse(body.assignment);
        if (!r.success) throw new Error('sync reply carries a malformed assignment');
        this.log.debug({ attempt }, 'sync answered');
        await this.deliver(r.data, 'sync');
        return;
      } catch (err) {
        if (stop.aborted) return;
        this.log.info({ err, attempt, retryInMs: wait }, 'sync not answered; will ask again');
      }
      if (!(await this.pause(wait, stop))) return;
      wait = Math.min(max, wait * 2);
    }
  }

  /**
   * A pushed assignment is the controller speaking to this host: a new one, or the one the host
   * holds sent again, which is how a controller that restarted or was just elected (hearing
   * ticks whose full heartbeat it never got, without this host's connection dropping) asks for a
   * full heartbeat. Either way the next heartbeat goes in full, and soon. A controller of the
   * previous version never asks; then the full heartbeat every `fullEvery` beats still comes.
   */
  private fullHeartbeatSoon(): void {
    this.forms.reset();
    this.heartbeatSoon();
  }

  /** Sends a heartbeat shortly; several calls close together send one. */
  heartbeatSoon(): void {
    if (this.debounceTimer !== undefined || this.closing) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.sendHeartbeat();
    }, this.deps.heartbeatDebounceMs ?? 100);
  }

  private async sendHeartbeat(): Promise<void> {
    if (this.nc === null || this.closing) return;
    try {
      const hb = await this.deps.heartbeat();
      const nc = this.nc;
      if (nc === null || nc.isClosed()) return;
      nc.publish(this.subjects.heartbeat(this.deps.hostId), this.forms.encode(hb, this.tickOffer));
    } catch (err) {
      this.log.warn({ err }, 'heartbeat failed');
    }
  }

  /** Stops timers and loops, then drains the connection (bounded), so nothing is left half-sent. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopped.abort();
    this.syncRound?.abort();
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.debounceTimer);
    const nc = this.nc;
    if (nc !== null && !nc.isClosed()) {
      const drained = nc.drain().catch(() => undefined);
      const timer = setTimeout(() => void nc.close().catch(() => undefined), 2000);
      await drained;
      clearTimeout(timer);
    }
    await Promise.race([Promise.all([...this.tasks]), sleep(2000)]);
  }
}
