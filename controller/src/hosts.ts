import { canonicalJson, type Announce, type AppStatusReport, type Heartbeat, type LoadFigures, type Logger, type TrustReport } from '@flotilla/shared';
import { KeyedMutex } from './concurrency.js';
import { DEFAULT_LABEL_POLICY, resolveLabels, type LabelPolicy } from './host-labels.js';
import { LivenessDeadlines } from './liveness.js';
import type { JsonBucket } from './store/kv.js';
import type { HostRecord, HostState } from './store/records.js';

/** What the latest heartbeat said. Kept in memory only: heartbeats are never written to KV. */
export interface LiveHostView {
  readonly bootId: string;
  /** The heartbeat's counter within its boot; older ones are dropped. */
  readonly n: number;
  /** The agent's clock when it sent the heartbeat. */
  readonly sentAtMs: number;
  /** The controller's clock when it arrived. */
  readonly receivedAtMs: number;
  readonly acceptedSeq: number;
  readonly load: LoadFigures;
  readonly apps: readonly AppStatusReport[];
  /** Key epoch, staleness and any refusal, as the host reports them (null from older agents). */
  readonly trust: TrustReport | null;
}

/** One host as the controller sees it now. */
export interface HostView {
  readonly record: Readonly<HostRecord>;
  /** Last announce or heartbeat (or, for a host not heard from since a restart, the restart). */
  readonly lastSeenMs: number;
  /** Null until a heartbeat has arrived since the controller started. */
  readonly live: LiveHostView | null;
}

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

interface HostEntry {
  record: HostRecord;
  lastSeenMs: number;
  /** Updated in place by each heartbeat; views get a copy. */
  live: LiveState | null;
  /** Boot ids of the host's earlier agent processes: their late heartbeats are stale. */
  retiredBoots: string[];
}

/**
 * The registry's own copy of what the latest heartbeat said, overwritten field by field.
 *
 * Why in place: a heartbeat's objects would otherwise be held for one interval, until the
 * host's next heartbeat replaces them; at 25,000 hosts a second that is long enough for every
 * one of them to be copied out of the young generation and collected later as old garbage. Kept
 * here, the numbers are overwritten where they are and the heartbeat's own objects die young. The
 * apps' reports are kept by reference, and only replaced when they say something new (so mostly
 * not). Nothing outside sees this object: `view` copies it.
 */
interface LiveState {
  bootId: string;
  n: number;
  sentAtMs: number;
  receivedAtMs: number;
  acceptedSeq: number;
  readonly load: LoadFigures;
  apps: readonly AppStatusReport[];
  trust: TrustReport | null;
}

/** Earlier boots remembered per host; late heartbeats from older ones are unlikely. */
const RETIRED_BOOTS_KEPT = 4;

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
      live.sentAtMs = hb.sentAtMs;
      live.receivedAtMs = now;
      live.acceptedSeq = hb.acceptedSeq;
      live.trust = hb.trust ?? null;
      copyLoad(hb.load, live.load);
      if (!sameReports(live.apps, hb.apps)) live.apps = hb.apps;
    }
    this.emit({ type: 'heartbeat', hostId: hb.hostId, heartbeat: hb, record: entry.record });
    if (previous) this.transitioned(hb.hostId, entry, 'up', previous, 'heartbeat');
    return persist ? this.persist(hb.hostId) : true;
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

/**
 * Same boot: the counter must grow. A boot the host has since replaced: always stale. Clocks are
 * not compared, so a host whose clock steps back after a reboot is still heard.
 */
function isStale(hb: Heartbeat, entry: HostEntry): boolean {
  if (entry.live && hb.bootId === entry.live.bootId) return hb.n <= entry.live.n;
  return entry.retiredBoots.includes(hb.bootId);
}

function retireBoot(entry: HostEntry, bootId: string): void {
  if (entry.retiredBoots.includes(bootId)) return;
  entry.retiredBoots = [...entry.retiredBoots, bootId].slice(-RETIRED_BOOTS_KEPT);
}

/** Every heartbeat carries the host's labels: compared without building key arrays. */
function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  let count = 0;
  for (const key in a) {
    if (!Object.hasOwn(b, key) || a[key] !== b[key]) return false;
    count++;
  }
  for (const _key in b) count--;
  return count === 0;
}

function copyLoad(from: LoadFigures, to: LoadFigures): void {
  to.cpuPercent = from.cpuPercent;
  to.memUsedBytes = from.memUsedBytes;
  to.memTotalBytes = from.memTotalBytes;
  to.diskFreeBytes = from.diskFreeBytes;
}

/**
 * Whether two heartbeats report the same apps, field for field. Reports are flat and, once
 * decoded, carry exactly the schema's fields, so every field of one is compared with the other's.
 */
function sameReports(a: readonly AppStatusReport[], b: readonly AppStatusReport[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as AppStatusReport;
    const y = b[i] as AppStatusReport;
    let fields = 0;
    for (const field in x) {
      fields++;
      if (x[field as keyof AppStatusReport] !== y[field as keyof AppStatusReport]) return false;
    }
    // A key only the newer report has (an optional one such as trafficWeight) is a change too.
    for (const _ in y) fields--;
    if (fields !== 0) return false;
  }
  return true;
}

/** A snapshot: later heartbeats do not change it. */
function view(entry: HostEntry): HostView {
  const live = entry.live;
  return {
    record: entry.record,
    lastSeenMs: entry.lastSeenMs,
    live:
      live === null
        ? null
        : {
            bootId: live.bootId,
            n: live.n,
            sentAtMs: live.sentAtMs,
            receivedAtMs: live.receivedAtMs,
            acceptedSeq: live.acceptedSeq,
            load: { ...live.load },
            apps: live.apps,
            trust: live.trust,
          },
  };
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** `refusedLabels` for a record: present only when the host claimed something it was not given. */
function refusedField(refused: Readonly<Record<string, string>>): { refusedLabels?: Record<string, string> } {
  return Object.keys(refused).length === 0 ? {} : { refusedLabels: { ...refused } };
}
