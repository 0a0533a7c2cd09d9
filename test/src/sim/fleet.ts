import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  SignatureError,
  StaleAssignmentError,
  encodeHeartbeatTick,
  encodeMessage,
  hostInboxPrefix,
  tickOfferOf,
  parseAssignment,
  signedAssignmentSchema,
  subjects as makeSubjects,
  verifyAssignment,
  type AppStatusReport,
  type Assignment,
  type Inventory,
  type SignedAssignment,
  type HeartbeatTickOffer,
  type Subjects,
  type SyncReply,
} from '@flotilla/shared';
import { announceMessage, heartbeatMessage, type HostIdentity } from '../host-messages.js';
import type { Activation, SeenAssignment, SimFailMode, SimFleetOptions, SimHostSpec, SimStats } from './types.js';
import { BeatWheel } from './wheel.js';

/** The wheel's resolution: heartbeats go out within this much of when they are due. */
const SLOT_MS = 5;
/** Assignments remembered per host (the latest ones). */
const SEEN_KEPT = 64;
const SIM_QUEUE_GROUP = 'flotilla-sim';
const decoder = new TextDecoder();

interface SimHost {
  readonly index: number;
  readonly hostId: string;
  readonly conn: number;
  readonly labels: Record<string, string>;
  readonly probe: boolean;
  /** Reports a traffic weight per app (SimHostSpec.trafficSlots). */
  readonly trafficSlots: boolean;
  /** app → the traffic weight the latest assignment asked for (trafficSlots hosts). */
  readonly targetWeights: Map<string, number>;
  readonly inventory: Inventory;
  bootId: string;
  n: number;
  acceptedSeq: number;
  readonly apps: Map<string, AppStatusReport>;
  /** Install timers of apps on their way to a new version. */
  readonly installs: Map<string, NodeJS.Timeout>;
  readonly seen: SeenAssignment[];
  readonly activations: Map<string, Activation>;
  /** Versions activated but not yet reported (app → version): the next heartbeat's send time is their activation. */
  readonly unreported: Map<string, string>;
  silent: boolean;
  /** The host has an entry on the wheel (a silenced host keeps its entry until the wheel reaches it). */
  onWheel: boolean;
  /** Set by silenceAfterNextBeat: called with the send time of the host's last heartbeat. */
  onLastBeat: ((sentAtMs: number) => void) | null;
  /** When the next periodic heartbeat is due, before jitter. */
  nextDueMs: number;
  lastSentMs: number;
  /** n of the last full heartbeat, which ticks name as their basis; 0: the next one is full. */
  basisN: number;
  /** Ticks sent since that full heartbeat. */
  ticks: number;
}

/**
 * Plays many hosts from one process over a real nats-server, with the agent's real message
 * shapes: each host announces, asks for its assignment (sync), heartbeats every interval (with
 * jitter) carrying its apps' statuses, and obeys the assignments it is sent: it reports the
 * install under way, then the new version running and healthy after `installDelayMs`, or fails
 * the versions in `failVersions`. Hosts share a few NATS connections, each with one wildcard
 * subscription for assignments, and one timer drives every heartbeat.
 *
 * It records when each host saw each assignment and when it first reported each version active,
 * and can silence a host (it stops heartbeating and ignores assignments, as a dead host would).
 */
export class SimFleet {
  private readonly hosts: SimHost[] = [];
  private readonly byId = new Map<string, SimHost>();
  private readonly subs: Subscription[] = [];
  private readonly subjects: Subjects;
  private readonly wheel: BeatWheel;
  private readonly intervalMs: number;
  private readonly jitterMs: number;
  private readonly failVersions: ReadonlySet<string>;
  private ticker: NodeJS.Timeout | undefined;
  /** Heartbeat ticks, as the controller offered them in a sync reply (as the agent sends them). */
  private tickOffer: HeartbeatTickOffer | null = null;
  private closed = false;
  private counters = {
    heartbeatsSent: 0,
    announcesSent: 0,
    assignmentsSeen: 0,
    assignmentsRejected: 0,
    syncsAnswered: 0,
    lateHeartbeats: 0,
    maxLatenessMs: 0,
  };

  private constructor(
    private readonly opts: SimFleetOptions,
    private readonly conns: NatsConnection[],
  ) {
    this.subjects = makeSubjects(opts.subjectPrefix ?? 'flotilla');
    this.intervalMs = opts.heartbeatIntervalMs ?? 1000;
    this.jitterMs = opts.jitterMs ?? Math.round(this.intervalMs * 0.05);
    this.failVersions = new Set(opts.failVersions ?? []);
    this.wheel = new BeatWheel(SLOT_MS, Date.now());
  }

  /** Opens the fleet's NATS connections; hosts come with addHosts(). */
  static async connect(opts: SimFleetOptions, expectedHosts = 0): Promise<SimFleet> {
    const count = opts.connections ?? Math.max(2, Math.ceil(expectedHosts / 5000));
    const conns: NatsConnection[] = [];
    try {
      for (let i = 0; i < count; i++) {
        conns.push(
          await connect({
            servers: opts.natsUrl,
            name: `flotilla-sim-${i}`,
            maxReconnectAttempts: -1,
            reconnectTimeWait: 250,
            ...(opts.natsAuth ? { user: opts.natsAuth.user, pass: opts.natsAuth.pass } : {}),
            ...(opts.natsAuth?.tls ? { tls: opts.natsAuth.tls } : {}),
          }),
        );
      }
    } catch (err) {
      await Promise.all(conns.map((nc) => nc.close().catch(() => undefined)));
      throw err;
    }
    const fleet = new SimFleet(opts, conns);
    fleet.listen();
    fleet.ticker = setInterval(() => fleet.tick(), SLOT_MS);
    return fleet;
  }

  private listen(): void {
    for (const nc of this.conns) {
      // A queue group: each assignment reaches one connection, and any connection can act for
      // any host, since they all live in this process.
      this.subs.push(
        nc.subscribe(this.subjects.assign('*'), {
          queue: SIM_QUEUE_GROUP,
          callback: (err, msg) => {
            if (err) return;
            const hostId = this.subjects.hostIdOf(msg.subject);
            if (hostId !== undefined) this.onAssignment(hostId, msg.data, 'push');
          },
        }),
      );
    }
  }

  /**
   * Adds hosts: each announces, sends its first heartbeat and asks for its assignment, and from
   * then on heartbeats at a random phase of the interval. Hosts are brought in at most `perSecond`
   * a second, as a fleet of agents starting would be, so the controller's writes of new host
   * records are spread out. Resolves once every host has had its sync answered (or timed out).
   */
  async addHosts(specs: readonly SimHostSpec[], { perSecond = 2000 } = {}): Promise<void> {
    const added: SimHost[] = [];
    const wave = Math.max(1, Math.ceil(perSecond / 20));
    for (let start = 0; start < specs.length && !this.closed; start += wave) {
      const began = Date.now();
      for (const spec of specs.slice(start, start + wave)) {
        if (this.byId.has(spec.hostId)) throw new Error(`simulated host ${spec.hostId} exists already`);
        const host = this.newHost(spec);
        this.hosts.push(host);
        this.byId.set(host.hostId, host);
        added.push(host);
        this.announce(host);
        this.beat(host, Date.now());
        host.nextDueMs = Date.now() + Math.random() * this.intervalMs;
        this.schedule(host, host.nextDueMs);
      }
      const waitMs = (wave / perSecond) * 1000 - (Date.now() - began);
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    }
    await this.syncAll(added);
  }

  private newHost(spec: SimHostSpec): SimHost {
    const index = this.hosts.length;
    const now = Date.now();
    const apps = new Map<string, AppStatusReport>();
    for (const [app, version] of Object.entries(spec.running ?? {})) {
      apps.set(app, { ...runningReport(app, version, index, now), ...(spec.trafficSlots ? { trafficWeight: 100 } : {}) });
    }
    return {
      index,
      hostId: spec.hostId,
      conn: index % this.conns.length,
      labels: { ...(spec.labels ?? {}) },
      probe: spec.probe ?? false,
      trafficSlots: spec.trafficSlots ?? false,
      targetWeights: new Map(),
      inventory: {
        hostname: spec.hostId,
        os: 'Debian GNU/Linux 12',
        arch: 'x64',
        kernel: '6.1.0-sim',
        cpus: 4,
        memTotalBytes: 8 * 1024 ** 3,
        agentVersion: 'sim',
      },
      bootId: randomUUID(),
      n: 0,
      acceptedSeq: 0,
      apps,
      installs: new Map(),
      seen: [],
      activations: new Map(),
      unreported: new Map(),
      silent: false,
      onWheel: false,
      onLastBeat: null,
      nextDueMs: now,
      lastSentMs: 0,
      basisN: 0,
      ticks: 0,
    };
  }

  /** Asks for every host's assignment, a bounded number at a time; retries each a few times. */
  private async syncAll(hosts: readonly SimHost[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < hosts.length && !this.closed) {
        const host = hosts[next++] as SimHost;
        for (let attempt = 0; attempt < 3 && !this.closed && !host.silent; attempt++) {
          if (await this.sync(host)) break;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.syncConcurrency ?? 64, hosts.length) }, worker));
  }

  private async sync(host: SimHost): Promise<boolean> {
    try {
      // Many simulated hosts share a connection; each asks in its own inbox, as a real agent
      // does, because the controller answers nowhere else.
      const reply = await this.nc(host).request(this.subjects.sync(host.hostId), new Uint8Array(0), {
        timeout: this.opts.syncTimeoutMs ?? 5000,
        noMux: true,
        reply: `${hostInboxPrefix(host.hostId)}.${randomUUID()}`,
      });
      const body = JSON.parse(decoder.decode(reply.data)) as SyncReply;
      if (this.opts.heartbeatTicks !== false) this.tickOffer = tickOfferOf(body);
      this.counters.syncsAnswered++;
      if (body.assignment) this.onSigned(host, body.assignment, 'sync');
      return true;
    } catch {
      return false;
    }
  }

  private nc(host: SimHost): NatsConnection {
    return this.conns[host.conn] as NatsConnection;
  }

  private identity(host: SimHost): HostIdentity {
    return { hostId: host.hostId, bootId: host.bootId, heartbeatIntervalMs: this.intervalMs, labels: host.labels };
  }

  private announce(host: SimHost): void {
    // As the agent does: it verifies a step-signed assignment's proof (onSigned).
    const message = announceMessage(this.identity(host), { inventory: host.inventory, assignmentProofs: true });
    this.nc(host).publish(this.subjects.announce(host.hostId), encodeMessage(message));
    this.counters.announcesSent++;
  }

  private tick(): void {
    const now = Date.now();
    this.wheel.due(now, (index) => {
      const host = this.hosts[index] as SimHost;
      host.onWheel = false;
      if (host.silent) return; // resume() puts it back on the wheel
      const due = host.nextDueMs;
      const lateness = now - due;
      if (lateness > SLOT_MS) this.counters.lateHeartbeats++;
      if (lateness > this.counters.maxLatenessMs) this.counters.maxLatenessMs = lateness;
      this.beat(host, now);
      host.nextDueMs = due + this.intervalMs;
      this.schedule(host, host.nextDueMs + (Math.random() * 2 - 1) * this.jitterMs);
    });
  }

  /** Sends one heartbeat now; returns its send time. */
  private beat(host: SimHost, now = Date.now()): number {
    if (host.silent || this.closed) return host.lastSentMs;
    const n = ++host.n;
    const load = {
      cpuPercent: 3 + (n % 7),
      // A probe's own send time, read back from the controller's view of the host.
      memUsedBytes: host.probe ? now : 2 * 1024 ** 3 + (n % 97) * 4096,
      memTotalBytes: host.inventory.memTotalBytes,
      diskFreeBytes: 40 * 1024 ** 3,
    };
    let body: Uint8Array;
    // As the agent does: a tick while nothing but the load changed, a full heartbeat otherwise.
    if (this.tickOffer && host.basisN > 0 && host.ticks + 1 < this.tickOffer.fullEvery) {
      host.ticks++;
      body = encodeHeartbeatTick({ bootId: host.bootId, n, basisN: host.basisN, sentAtMs: now, load });
    } else {
      const apps = [...host.apps.values()];
      body = encodeMessage(heartbeatMessage(this.identity(host), { n, sentAtMs: now, acceptedSeq: host.acceptedSeq, apps, load }));
      host.basisN = n;
      host.ticks = 0;
    }
    try {
      this.nc(host).publish(this.subjects.heartbeat(host.hostId), body);
    } catch {
      return host.lastSentMs; // the connection is closing
    }
    this.counters.heartbeatsSent++;
    host.lastSentMs = now;
    for (const [app, version] of host.unreported) {
      const weight = host.apps.get(app)?.trafficWeight;
      host.activations.set(app, { version, atMs: now, ...(weight !== undefined ? { trafficWeight: weight } : {}) });
    }
    host.unreported.clear();
    if (host.onLastBeat) {
      host.silent = true;
      const done = host.onLastBeat;
      host.onLastBeat = null;
      done(now);
    }
    return now;
  }

  private onAssignment(hostId: string, data: Uint8Array, source: 'push' | 'sync'): void {
    const host = this.byId.get(hostId);
    if (!host || host.silent) return;
    let signed: SignedAssignment;
    try {
      const r = signedAssignmentSchema.safeParse(JSON.parse(decoder.decode(data)));
      if (!r.success) throw new Error('not a signed assignment');
      signed = r.data;
    } catch {
      this.counters.assignmentsRejected++;
      return;
    }
    this.onSigned(host, signed, source);
  }

  /** Checks an assignment as the agent does (signature only when keys were given), then obeys it. */
  private onSigned(host: SimHost, signed: SignedAssignment, source: 'push' | 'sync'): void {
    if (host.silent || this.closed) return;
    const atMs = Date.now();
    let assignment: Assignment;
    try {
      if (this.opts.controllerKeys) {
        assignment = verifyAssignment(signed, {
          hostId: host.hostId,
          trust: { epoch: 1, keys: this.opts.controllerKeys },
          accepted: { epoch: 1, seq: host.acceptedSeq },
          nowMs: atMs,
        });
      } else {
        assignment = parseAssignment(signed.payload);
        if (assignment.hostId !== host.hostId) throw new SignatureError(`assignment is for ${assignment.hostId}`);
        if (assignment.seq <= host.acceptedSeq) throw new StaleAssignmentError(`seq ${assignment.seq} is stale`);
      }
    } catch {
      this.counters.assignmentsRejected++;
      return;
    }
    host.acceptedSeq = assignment.seq;
    host.basisN = 0;
    const apps = Object.fromEntries(Object.entries(assignment.apps).map(([app, a]) => [app, a.version]));
    host.seen.push({ seq: assignment.seq, atMs, source, apps });
    if (host.seen.length > SEEN_KEPT) host.seen.splice(0, host.seen.length - SEEN_KEPT);
    this.counters.assignmentsSeen++;
    this.obey(host, apps, trafficWeights(assignment));
    // As the agent does after accepting: report at once (the accepted seq moved).
    this.beat(host);
  }

  private obey(host: SimHost, wanted: Record<string, string>, weights: Readonly<Record<string, number>> = {}): void {
    const now = Date.now();
    host.basisN = 0;
    for (const [app, version] of Object.entries(wanted)) {
      const report = host.apps.get(app);
      if (host.trafficSlots) {
        const weight = weights[app] ?? 100;
        host.targetWeights.set(app, weight);
        // The version already runs: only the balancer's weight moves (one reload on a real host).
        if (report?.desiredVersion === version && report.activeVersion === version && !host.installs.has(app) && report.trafficWeight !== weight) {
          host.apps.set(app, { ...report, trafficWeight: weight, updatedAtMs: now });
          host.unreported.set(app, version);
          continue;
        }
      }
      if (report?.desiredVersion === version && (report.activeVersion === version || host.installs.has(app))) continue;
      clearTimeout(host.installs.get(app));
      host.installs.delete(app);
      const delayMs = this.opts.installDelayMs ?? 0;
      const failing = this.failVersions.has(version);
      if (delayMs > 0) {
        host.apps.set(app, { ...(report ?? stoppedReport(app, now)), desiredVersion: version, installPhase: 'downloading', installVersion: version, error: null, updatedAtMs: now });
        host.installs.set(
          app,
          setTimeout(() => {
            host.installs.delete(app);
            this.finishInstall(host, app, version, failing);
            this.beat(host);
          }, delayMs),
        );
      } else {
        this.finishInstall(host, app, version, failing);
      }
    }
    for (const app of [...host.apps.keys()]) {
      if (app in wanted) continue;
      // Unassigned: the agent stops the app and stops reporting it.
      clearTimeout(host.installs.get(app));
      host.installs.delete(app);
      host.apps.delete(app);
    }
  }

  private finishInstall(host: SimHost, app: string, version: string, failing: boolean): void {
    if (this.closed) return;
    const now = Date.now();
    const previous = host.apps.get(app) ?? stoppedReport(app, now);
    host.basisN = 0;
    if (failing) {
      host.apps.set(app, failedReport(previous, version, this.opts.failMode ?? 'install', host.index, now));
      return;
    }
    const weight = host.trafficSlots ? (host.targetWeights.get(app) ?? 100) : undefined;
    host.apps.set(app, { ...runningReport(app, version, host.index, now), ...(weight !== undefined ? { trafficWeight: weight } : {}) });
    host.unreported.set(app, version);
  }

  /**
   * Lets the host send one more heartbeat, then silences it (no heartbeats, assignments
   * ignored). Resolves with that last heartbeat's send time: the host's silence starts there.
   */
  silenceAfterNextBeat(hostId: string): Promise<number> {
    const host = this.host(hostId);
    return new Promise((resolve) => {
      host.onLastBeat = resolve;
    });
  }

  /** Silences the host at once; returns the send time of its last heartbeat. */
  silence(hostId: string): number {
    const host = this.host(hostId);
    host.silent = true;
    return host.lastSentMs;
  }

  /**
   * A silenced host speaks again. `restart` plays an agent process that started again: a new
   * boot id, an announce and a sync; otherwise it only resumes heartbeats (a healed partition).
   */
  resume(hostId: string, { restart = false } = {}): void {
    const host = this.host(hostId);
    if (!host.silent) return;
    host.silent = false;
    host.basisN = 0;
    if (restart) {
      host.bootId = randomUUID();
      host.n = 0;
      this.announce(host);
      void this.syncAll([host]);
    }
    this.beat(host);
    host.nextDueMs = Date.now() + this.intervalMs;
    // Silenced less than an interval ago, it is still on the wheel: a second entry would make it
    // beat twice as often from then on.
    if (!host.onWheel) this.schedule(host, host.nextDueMs);
  }

  private schedule(host: SimHost, atMs: number): void {
    host.onWheel = true;
    this.wheel.schedule(host.index, atMs);
  }

  private host(hostId: string): SimHost {
    const host = this.byId.get(hostId);
    if (!host) throw new Error(`no simulated host ${hostId}`);
    return host;
  }

  hostIds(): string[] {
    return this.hosts.map((h) => h.hostId);
  }

  /** The assignments a host saw (the latest 64), oldest first. */
  seen(hostId: string): readonly SeenAssignment[] {
    return [...this.host(hostId).seen];
  }

  /** The host's latest activation of `app`: the version, and the send time of the heartbeat that first reported it. */
  activation(hostId: string, app: string): Activation | undefined {
    return this.host(hostId).activations.get(app);
  }

  /** What the host reports for `app` now. */
  report(hostId: string, app: string): AppStatusReport | undefined {
    return this.host(hostId).apps.get(app);
  }

  /**
   * When every host (or those named) first reported `app@version` active in a heartbeat sent at
   * or after `sinceMs` (at `trafficWeight`, when given): the send times, and the hosts still missing.
   */
  activationsSince(
    app: string,
    version: string,
    sinceMs: number,
    hostIds?: readonly string[],
    trafficWeight?: number,
  ): { times: number[]; missing: string[] } {
    const times: number[] = [];
    const missing: string[] = [];
    for (const host of hostIds ? hostIds.map((id) => this.host(id)) : this.hosts) {
      const a = host.activations.get(app);
      if (a && a.version === version && a.atMs >= sinceMs && (trafficWeight === undefined || a.trafficWeight === trafficWeight)) times.push(a.atMs);
      else missing.push(host.hostId);
    }
    return { times, missing };
  }

  /** Waits (at most `timeoutMs`) until activationsSince() misses no host; returns its last answer. */
  async waitForActivations(
    app: string,
    version: string,
    sinceMs: number,
    { timeoutMs = 30_000, hostIds, trafficWeight }: { timeoutMs?: number; hostIds?: readonly string[]; trafficWeight?: number } = {},
  ): Promise<{ times: number[]; missing: string[] }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.activationsSince(app, version, sinceMs, hostIds, trafficWeight);
      if (r.missing.length === 0 || Date.now() >= deadline || this.closed) return r;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  stats(): SimStats {
    return {
      hosts: this.hosts.length,
      silent: this.hosts.filter((h) => h.silent).length,
      connections: this.conns.length,
      ...this.counters,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    for (const host of this.hosts) for (const t of host.installs.values()) clearTimeout(t);
    await Promise.all(this.conns.map((nc) => nc.close().catch(() => undefined)));
  }
}

/** The traffic weight an assignment asks for, per app that names one. */
function trafficWeights(assignment: Assignment): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [app, a] of Object.entries(assignment.apps)) if (a.traffic) out[app] = a.traffic.weight;
  return out;
}

function stoppedReport(app: string, now: number): AppStatusReport {
  return {
    app,
    desiredVersion: null,
    activeVersion: null,
    processState: 'stopped',
    pid: null,
    restarts: 0,
    health: 'unknown',
    healthSinceMs: now,
    installPhase: 'idle',
    installVersion: null,
    error: null,
    updatedAtMs: now,
  };
}

function runningReport(app: string, version: string, index: number, now: number): AppStatusReport {
  return {
    app,
    desiredVersion: version,
    activeVersion: version,
    processState: 'running',
    pid: 1000 + (index % 30_000),
    restarts: 0,
    health: 'healthy',
    healthSinceMs: now,
    installPhase: 'done',
    installVersion: version,
    error: null,
    updatedAtMs: now,
  };
}

function failedReport(previous: AppStatusReport, version: string, mode: SimFailMode, index: number, now: number): AppStatusReport {
  switch (mode) {
    case 'install':
      return {
        ...previous,
        desiredVersion: version,
        installPhase: 'failed',
        installVersion: version,
        error: `simulated install failure of ${version}`,
        updatedAtMs: now,
      };
    case 'unhealthy':
      return { ...runningReport(previous.app, version, index, now), health: 'unhealthy', error: 'simulated health check failure' };
    case 'crash-loop':
      return {
        ...runningReport(previous.app, version, index, now),
        processState: 'crash-loop',
        pid: null,
        restarts: 5,
        health: 'unhealthy',
        error: 'simulated crash loop',
      };
  }
}
