import { canonicalJson, type Announce, type AppStatusReport, type Heartbeat, type HeartbeatTick, type Logger } from '@flotilla/shared';
import { KeyedMutex } from './concurrency.js';
import { DEFAULT_LABEL_POLICY, resolveLabels, type LabelPolicy } from './host-labels.js';
import {
  NO_LABELS,
  copyLoad,
  isStale,
  refusedField,
  retireBoot,
  sameLabels,
  sameReports,
  view,
  type HostEntry,
  type HostView,
  type LiveState,
} from './host-live.js';
import { LivenessDeadlines } from './liveness.js';
import type { JsonBucket } from './store/kv.js';
import type { HostRecord, HostState } from './store/records.js';

export type { HostView, LiveHostView } from './host-live.js';

export type HostEvent =
  | { readonly type: 'announce'; readonly hostId: string; readonly host: HostView }
  /** Per heartbeat, so no snapshot of the host is built: the heartbeat itself, and the host's record. */
  | { readonly type: 'heartbeat'; readonly hostId: string; readonly heartbeat: Heartbeat; readonly record: Readonly<HostRecord> }
  | {
      readonly type: 'state';
      readonly hostId: string;
      readonly state: HostState;
      readonly previous: HostState;
      readonly host: HostView;
    };

export type HostListener = (event: HostEvent) => void;

/** What became of a heartbeat tick: taken as a heartbeat, stale (reordered, an earlier boot), or without its basis. */
export type TickOutcome = 'taken' | 'stale' | 'no-basis';

export interface HostRegistryOptions {
  bucket: JsonBucket<HostRecord>;
  /** Missed heartbeat intervals after which a host is down. */
  downAfterMissed: number;
  logger: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Which labels a host claims are believed for selection. @default DEFAULT_LABEL_POLICY (all) */
  labels?: LabelPolicy;
}

/**
 * A deadline timer that fires this much late means the event loop was held up: heartbeats that
 * arrived meanwhile may still be unread in the socket, so silence is not yet evidence.
 */
export const STALL_TOLERANCE_MS = 250;
/** Stalls in a row that postpone the deadlines; after that a host is judged anyway. */
const MAX_POSTPONES = 3;

/** The longest delay setTimeout takes; a deadline further away is re-checked when it fires. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * The fleet's hosts. Announces and up/down transitions are written to `flotilla_hosts`;
 * heartbeats only update the live view in memory. Every up host has a deadline, `downAfterMissed`
 * of its heartbeat intervals after the controller last heard it; one timer, set for the earliest
 * deadline of the fleet, marks the host down when it passes. Its next heartbeat marks it up.
 *
 * Memory is the source of truth while the controller runs, KV its durable copy: every write
 * stores the host's in-memory record as it is when the write runs, one write per host at a time,
 * so the last transition always wins in KV too.
 */
export class HostRegistry {
  private readonly hosts = new Map<string, HostEntry>();
  private readonly listeners = new Set<HostListener>();
  private readonly writes = new KeyedMutex();
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly deadlines: LivenessDeadlines;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The deadline the timer is set for; a host heard later needs no new timer. */
  private timerDeadlineMs: number | undefined;
  private running = false;
  private listening = true;
  /** Deadline checks in a row put off because the timer fired late (see STALL_TOLERANCE_MS). */
  private postponed = 0;

  private constructor(private readonly opts: HostRegistryOptions) {
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger;
    this.deadlines = new LivenessDeadlines(opts.downAfterMissed);
  }

  /**
   * Loads the host records from KV. Live data starts empty and every host counts as last seen
   * now, so a host that never heartbeats again is marked down by the same rule, measured from
   * the controller's start.
   */
  static async load(opts: HostRegistryOptions): Promise<HostRegistry> {
    const registry = new HostRegistry(opts);
    const startedMs = registry.now();
    for (const { key, value } of await opts.bucket.list()) {
      registry.hosts.set(key, { record: value, lastSeenMs: startedMs, live: null, retiredBoots: [] });
      if (value.state === 'up') registry.deadlines.heard(key, startedMs, value.heartbeatIntervalMs);
    }
    return registry;
  }

  /** Starts watching the deadlines. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.armDeadlineTimer();
  }

  /** Stops watching the deadlines and waits (at most `graceMs`) for the KV writes already queued. */
  async stop(graceMs = 5000): Promise<void> {
    this.running = false;
    this.disarmDeadlineTimer();
    const queued = Promise.all([...this.hosts.keys()].map((id) => this.writes.run(id, async () => undefined)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([queued, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  /**
   * Whether the controller can hear hosts at all. While it cannot (its NATS connection is down)
   * silence says nothing about the hosts, so none of them is marked down; when it can again,
   * every host gets a fresh allowance measured from that moment.
   */
  setListening(listening: boolean): void {
    if (listening && !this.listening) {
      const now = this.now();
      for (const entry of this.hosts.values()) entry.lastSeenMs = Math.max(entry.lastSeenMs, now);
      this.deadlines.restartAllFrom(now);
    }
    this.listening = listening;
    if (listening) this.armDeadlineTimer();
    else this.disarmDeadlineTimer();
  }

  /** Listens to announces, heartbeats and up/down transitions; returns the unsubscribe function. */
  subscribe(listener: HostListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(hostId: string): HostView | undefined {
    const entry = this.hosts.get(hostId);
    return entry ? view(entry) : undefined;
  }

  /**
   * Every known host, or those whose record `filter` keeps, by id. Filtering comes first: a
   * selector that picks a few hosts of 25,000 sorts a few ids, not the fleet's, on the event
   * loop that takes the heartbeats.
   */
  list(filter?: (record: Readonly<HostRecord>) => boolean): HostView[] {
    const ids: string[] = [];
    this.hosts.forEach((entry, id) => {
      if (!filter || filter(entry.record)) ids.push(id);
    });
    return ids.sort().map((id) => view(this.hosts.get(id) as HostEntry));
  }

  /** The heartbeat interval the host last stated; undefined for a host the registry does not know. */
  intervalOf(hostId: string): number | undefined {
    return this.hosts.get(hostId)?.record.heartbeatIntervalMs;
  }

  counts(): { up: number; down: number } {
    let up = 0;
    let down = 0;
    for (const e of this.hosts.values()) {
      if (e.record.state === 'up') up++;
      else down++;
    }
    return { up, down };
  }

  /**
   * Hosts whose last heartbeat said they hold only an expired assignment (stale), or that they
   * refused an assignment or key statement, and how many trust each controller-key epoch.
   */
  trustCounts(): { stale: number; refusing: number; byKeyEpoch: Map<number, number> } {
    let stale = 0;
    let refusing = 0;
    const byKeyEpoch = new Map<number, number>();
    for (const e of this.hosts.values()) {
      const t = e.live?.trust;
      if (!t) continue;
      if (t.stale) stale++;
      if (t.error !== null) refusing++;
      byKeyEpoch.set(t.keyEpoch, (byKeyEpoch.get(t.keyEpoch) ?? 0) + 1);
    }
    return { stale, refusing, byKeyEpoch };
  }

  /** An agent started or reconnected: record its labels and inventory; it is up. */
  async handleAnnounce(announce: Announce): Promise<void> {
    const now = this.now();
    const entry = this.hosts.get(announce.hostId);
    const previous = entry?.record.state;
    const resolved = resolveLabels(announce.hostId, announce.labels, this.opts.labels ?? DEFAULT_LABEL_POLICY);
    const record: HostRecord = {
      hostId: announce.hostId,
      labels: { ...resolved.labels },
      ...refusedField(resolved.refused),
      inventory: { ...announce.inventory },
      heartbeatIntervalMs: announce.heartbeatIntervalMs,
      firstSeenMs: entry?.record.firstSeenMs ?? now,
      lastAnnounceMs: now,
      state: 'up',
      stateSinceMs: previous === 'up' ? (entry as HostEntry).record.stateSinceMs : now,
    };
    const current: HostEntry = { record, lastSeenMs: now, live: entry?.live ?? null, retiredBoots: entry?.retiredBoots ?? [] };
    if (current.live && current.live.bootId !== announce.bootId) retireBoot(current, current.live.bootId);
    this.hosts.set(announce.hostId, current);
    this.heard(announce.hostId, now, record.heartbeatIntervalMs);
    if (!entry) this.logger.info({ hostId: announce.hostId, labels: record.labels }, 'host registered');
    if (record.refusedLabels) this.logger.warn({ hostId: announce.hostId, refused: record.refusedLabels }, 'host claims labels it was not given');
    this.emit({ type: 'announce', hostId: announce.hostId, host: view(current) });
    if (previous === 'down') this.transitioned(announce.hostId, current, 'up', 'down', 'announce');
    await this.persist(announce.hostId);
  }

  /**
   * Updates the live view from a heartbeat. Returns false (and changes nothing) for a heartbeat
   * older than one already seen: same boot and a counter not above the last, or an earlier boot.
   * Resolves once the KV write the heartbeat called for (a new host, changed labels, back up) is done.
   */
  async handleHeartbeat(hb: Heartbeat): Promise<boolean> {
    const taken = this.takeIn(hb);
    if (taken === false) return false;
    if (taken !== true) await taken;
    return true;
  }

  /**
   * `handleHeartbeat` for the NATS subscription: the same, but returns at once, leaving a KV
   * write it calls for to finish on its own (a failed one is logged). Costs no promise in the
   * usual case of a known host whose heartbeat changes nothing durable.
   */
  takeHeartbeat(hb: Heartbeat): boolean {
    return this.takeIn(hb) !== false;
  }

  /** False: stale. True: taken, nothing to write. A promise: taken, and the KV write under way. */
  private takeIn(hb: Heartbeat): boolean | Promise<void> {
    const now = this.now();
    let entry = this.hosts.get(hb.hostId);
    if (entry && isStale(hb, entry)) return false;

    let persist = false;
    let previous: HostState | undefined;
    const resolved = resolveLabels(hb.hostId, hb.labels, this.opts.labels ?? DEFAULT_LABEL_POLICY);
    if (!entry) {
      // Labels travel in heartbeats too, so a host whose announce was lost is still tracked.
      entry = {
        record: {
          hostId: hb.hostId,
          labels: { ...resolved.labels },
          ...refusedField(resolved.refused),
          inventory: null,
          heartbeatIntervalMs: hb.heartbeatIntervalMs,
          firstSeenMs: now,
          lastAnnounceMs: 0,
          state: 'up',
          stateSinceMs: now,
        },
        lastSeenMs: now,
        live: null,
        retiredBoots: [],
      };
      this.hosts.set(hb.hostId, entry);
      this.logger.info({ hostId: hb.hostId, labels: entry.record.labels }, 'host registered from a heartbeat');
      persist = true;
    } else {
      const r = entry.record;
      if (
        r.heartbeatIntervalMs !== hb.heartbeatIntervalMs ||
        !sameLabels(r.labels, resolved.labels) ||
        !sameLabels(r.refusedLabels ?? NO_LABELS, resolved.refused)
      ) {
        const { refusedLabels: _was, ...rest } = r;
        entry.record = { ...rest, labels: { ...resolved.labels }, ...refusedField(resolved.refused), heartbeatIntervalMs: hb.heartbeatIntervalMs };
        persist = true;
      }
      if (r.state === 'down') {
        previous = 'down';
        entry.record = { ...entry.record, state: 'up', stateSinceMs: now };
        persist = true;
      }
    }
    entry.lastSeenMs = now;
    this.heard(hb.hostId, now, entry.record.heartbeatIntervalMs);
    const live = entry.live;
    if (live === null) {
      entry.live = {
        bootId: hb.bootId,
        n: hb.n,
        basisN: hb.n,
        sentAtMs: hb.sentAtMs,
        receivedAtMs: now,
        acceptedSeq: hb.acceptedSeq,
        load: { ...hb.load },
        apps: hb.apps,
        trust: hb.trust ?? null,
      };
    } else {
      if (live.bootId !== hb.bootId) {
        retireBoot(entry, live.bootId);
        live.bootId = hb.bootId;
      }
      live.n = hb.n;
      live.basisN = hb.n;
      live.sentAtMs = hb.sentAtMs;
      live.receivedAtMs = now;
      live.acceptedSeq = hb.acceptedSeq;
      live.trust = hb.trust ?? null;
      copyLoad(hb.load, live.load);
      if (!sameReports(live.apps, hb.apps)) live.apps = hb.apps;
    }
    // Reports that say nothing new reach listeners as the objects they already saw (as a tick's
    // do), so a listener can tell "nothing new" by identity instead of comparing fields.
    const apps = (entry.live as LiveState).apps as AppStatusReport[];
    const heartbeat = apps === hb.apps ? hb : { ...hb, apps };
    this.emit({ type: 'heartbeat', hostId: hb.hostId, heartbeat, record: entry.record });
    if (previous) this.transitioned(hb.hostId, entry, 'up', previous, 'heartbeat');
    return persist ? this.persist(hb.hostId) : true;
  }

  /**
   * Takes a heartbeat tick (heartbeat-tick.ts) from `hostId`, the host its subject names. A tick
   * is a heartbeat that says only its counter, send time and load, and whose every other field is
   * as the full heartbeat `basisN` of the same boot said it; taken in full, it is handled as that
   * heartbeat sent again (listeners get it as one), at the cost of a few assignments.
   *
   * When the controller does not hold that basis (the full heartbeat was lost, the controller
   * restarted, the agent restarted and its first heartbeat has not arrived), the tick still
   * proves that a host the controller knows as up is alive, so its deadline starts over, but
   * nothing else is believed: no event, no transition. The caller asks the host for a full
   * heartbeat (subscriptions.ts, by re-sending its assignment); at the latest, the agent's next
   * full heartbeat (at most `fullEvery` beats away) brings the rest. A tick from an unknown host, an earlier boot, or
   * with a counter not above the last is stale or baseless and changes nothing.
   */
  takeTick(hostId: string, tick: HeartbeatTick): TickOutcome {
    const entry = this.hosts.get(hostId);
    if (entry === undefined) return 'no-basis';
    const live = entry.live;
    const sameBoot = live !== null && live.bootId === tick.bootId;
    if (!sameBoot) {
      if (entry.retiredBoots.includes(tick.bootId)) return 'stale';
      // The host's agent is alive; which state it is in is unknown until its full heartbeat.
      if (entry.record.state === 'up') this.stillAlive(hostId, entry);
      return 'no-basis';
    }
    if (tick.n <= live.n) return 'stale';
    const now = this.now();
    live.n = tick.n;
    live.sentAtMs = tick.sentAtMs;
    live.receivedAtMs = now;
    copyLoad(tick.load, live.load);
    if (tick.basisN !== live.basisN) {
      if (entry.record.state === 'up') this.stillAlive(hostId, entry);
      return 'no-basis';
    }
    entry.lastSeenMs = now;
    this.heard(hostId, now, entry.record.heartbeatIntervalMs);
    const record = entry.record;
    const heartbeat: Heartbeat = {
      type: 'heartbeat',
      hostId,
      n: tick.n,
      bootId: tick.bootId,
      sentAtMs: tick.sentAtMs,
      heartbeatIntervalMs: record.heartbeatIntervalMs,
      acceptedSeq: live.acceptedSeq,
      load: tick.load,
      apps: live.apps as AppStatusReport[],
      labels: record.labels,
      ...(live.trust !== null ? { trust: live.trust } : {}),
    };
    this.emit({ type: 'heartbeat', hostId, heartbeat, record });
    if (record.state === 'down') {
      entry.record = { ...record, state: 'up', stateSinceMs: now };
      this.transitioned(hostId, entry, 'up', 'down', 'heartbeat');
      void this.persist(hostId);
    }
    return 'taken';
  }

  /** The host was heard from, though what it said cannot be taken: only its deadline starts over. */
  private stillAlive(hostId: string, entry: HostEntry): void {
    const now = this.now();
    entry.lastSeenMs = now;
    this.heard(hostId, now, entry.record.heartbeatIntervalMs);
  }

  /**
   * Marks down every host whose deadline has passed. The deadline timer runs it; public so that
   * tests can drive it with their own clock. Looks only at the hosts that are due.
   */
  async sweep(): Promise<void> {
    await Promise.all(this.markOverdueDown());
  }

  /** Marks the overdue hosts down at once; returns their KV writes. */
  private markOverdueDown(): Promise<void>[] {
    if (!this.listening) return [];
    const now = this.now();
    const writes: Promise<void>[] = [];
    for (const due of this.deadlines.takeDue(now)) {
      const entry = this.hosts.get(due.hostId);
      if (!entry || entry.record.state !== 'up') continue;
      entry.record = { ...entry.record, state: 'down', stateSinceMs: now };
      this.transitioned(due.hostId, entry, 'down', 'up', 'missed heartbeats');
      writes.push(this.persist(due.hostId));
    }
    return writes;
  }

  private transitioned(hostId: string, entry: HostEntry, state: HostState, previous: HostState, reason: string): void {
    const silentMs = this.now() - entry.lastSeenMs;
    if (state === 'down') {
      this.logger.warn({ hostId, silentMs, heartbeatIntervalMs: entry.record.heartbeatIntervalMs, reason }, 'host down');
    } else {
      this.logger.info({ hostId, reason }, 'host up');
    }
    this.emit({ type: 'state', hostId, state, previous, host: view(entry) });
  }

  /** Writes the host's in-memory record to KV; failures are logged (the next transition retries). */
  private persist(hostId: string): Promise<void> {
    return this.writes.run(hostId, async () => {
      const entry = this.hosts.get(hostId);
      if (!entry) return;
      try {
        await this.opts.bucket.updateWithRetry(hostId, (current) => {
          const record = entry.record;
          if (current && canonicalJson(current.value) === canonicalJson(record)) return undefined;
          // Keep the earliest first sighting if another writer recorded the host before us.
          const firstSeenMs = current ? Math.min(current.value.firstSeenMs, record.firstSeenMs) : record.firstSeenMs;
          return { ...current?.value, ...record, firstSeenMs };
        });
      } catch (err) {
        this.logger.error({ hostId, err }, 'cannot write host record');
      }
    });
  }

  /** The host was heard now: its deadline starts over, and the timer is brought forward if need be. */
  private heard(hostId: string, now: number, heartbeatIntervalMs: number): void {
    this.deadlines.heard(hostId, now, heartbeatIntervalMs);
    // Usually a no-op: a deadline set now is later than the one the timer waits for.
    const deadline = this.deadlines.deadlineOf(hostId) as number;
    if (this.timerDeadlineMs === undefined || deadline < this.timerDeadlineMs) this.armDeadlineTimer();
  }

  /**
   * Sets the one timer for the earliest deadline. It may fire for a host heard since (its deadline
   * moved on): then nothing is due and the timer is set again for the new earliest, so in a
   * healthy fleet it fires about once per `downAfterMissed - 1` intervals, whatever its size.
   */
  private armDeadlineTimer(): void {
    if (!this.running || !this.listening) return;
    const deadline = this.deadlines.nextDeadlineMs();
    if (deadline === this.timerDeadlineMs && this.deadlineTimer) return;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.timerDeadlineMs = deadline;
    if (deadline === undefined) return;
    const delay = Math.min(LONGEST_TIMER_MS, Math.max(0, deadline - this.now()));
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      this.timerDeadlineMs = undefined;
      const lateMs = this.now() - (deadline as number);
      if (lateMs > STALL_TOLERANCE_MS && this.postponed < MAX_POSTPONES) {
        // Shed the judgement, not the hosts: nobody is marked down for the controller's own stall.
        this.postponed++;
        this.deadlines.postponeAll(lateMs, this.now());
        this.logger.warn({ lateMs, postponed: this.postponed }, 'event loop held up; host deadlines postponed');
        this.armDeadlineTimer();
        return;
      }
      this.postponed = 0;
      try {
        // The writes go on without the timer: a slow KV must not hold up the next deadline.
        Promise.all(this.markOverdueDown()).catch((err: unknown) =>
          this.logger.error({ err }, 'host down write failed'),
        );
      } catch (err) {
        this.logger.error({ err }, 'host deadline check failed');
      }
      this.armDeadlineTimer();
    }, delay);
    this.deadlineTimer.unref();
  }

  private disarmDeadlineTimer(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.timerDeadlineMs = undefined;
  }

  private emit(event: HostEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ hostId: event.hostId, event: event.type, err }, 'host listener failed');
      }
    }
  }
}

