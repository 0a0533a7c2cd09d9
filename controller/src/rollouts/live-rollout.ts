import { performance } from 'node:perf_hooks';
import { ConflictError, parseSelector, toFlotillaError, type AppStatusReport, type Logger, type SelectorTerm } from '@flotilla/shared';
import { decide, type Decision, type RolloutAction, type RolloutEvent, type RolloutState, type TrafficTarget } from '../engine/index.js';
import type { ArtifactRecord } from '../store/records.js';
import { assignVersion } from './assign-action.js';
import { markStable, settleFinished, type FinishDeps } from './finish.js';
import type { RolloutStore } from './store.js';
import type { FailedStepReverts, RegistryPhase, RolloutAssigner, RolloutTimers, TransitionStats } from './types.js';
import { WatchThrottle } from './watch-throttle.js';

/** Wait before trying again after a state could not be written (KV unavailable). */
const PERSIST_RETRY_MS = 1_000;
/** Wait between tries of a finished rollout's bookkeeping (stable version, history, claim). */
const FINISH_RETRY_MS = 5_000;
/** Lost compare-and-set races on one rollout's state before a batch of events is dropped. */
const MAX_STATE_CONFLICTS = 3;
/** setTimeout's ceiling; a later wake-up fires early, changes nothing, and is armed again. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Longest stretch of deciding before other work (heartbeats) gets the event loop. */
const DECIDE_SLICE_MS = 20;

/** Where a rollout finds its releases: the app ledger. */
export interface ReleaseSource {
  requireArtifact(app: string, version: string): Promise<ArtifactRecord>;
}

export interface LiveRolloutDeps {
  store: RolloutStore;
  assignments: RolloutAssigner;
  releases: ReleaseSource;
  finish: FinishDeps;
  timers: RolloutTimers;
  now: () => number;
  /** The registry's logger; the rollout logs under a child carrying its id. */
  logger: Logger;
  phase: () => RegistryPhase;
  onTransition?: (stats: TransitionStats) => void;
  /**
   * The revert path, through which a failed step's revert goes (its record, then the hosts).
   * @default none: the rollout reverts its hosts itself, without a record (unit tests)
   */
  reverts?: FailedStepReverts;
  /** Its end is settled: the registry stops driving it. */
  finished: (live: LiveRollout) => void;
}

export interface Waiter {
  /** `prior` is the state the event was decided from. */
  resolve(decision: Decision, prior: RolloutState): void;
  reject(err: unknown): void;
}

interface Queued {
  event: RolloutEvent;
  waiter?: Waiter;
}

/** What in a host's report the engine looks at, as one string: equal strings, same decision. */
export function reportKey(r: AppStatusReport): string {
  // The applied traffic weight is part of it: under traffic steps a canary host passes only once
  // its report carries the step's weight, which often arrives in a heartbeat that differs from
  // the last one fed in nothing else.
  return JSON.stringify([r.desiredVersion, r.activeVersion, r.installVersion, r.installPhase, r.processState, r.health, r.restarts, r.error, r.trafficWeight]);
}

/**
 * One rollout this controller drives: its event loop. Events queue and are decided one batch at
 * a time (those that arrive while a state is written are decided together into one write); each
 * new state is written to KV with compare-and-set BEFORE its actions are carried out
 * (assignments, marking the version stable, the next timer). A heartbeat that changes nothing
 * costs one `decide` and no write.
 */
export class LiveRollout {
  /** The state as last written to KV: what the engine decides from. */
  state: RolloutState;
  /** What readers see: the state once its actions have been carried out. */
  published: RolloutState;
  readonly hostIds: ReadonlySet<string>;
  readonly selector: readonly SelectorTerm[];
  readonly watchers: WatchThrottle;
  /** Resolves when the batch being decided and acted on is done; null when idle. */
  draining: Promise<void> | null = null;
  private revision: number;
  private readonly queue: Queued[] = [];
  /** Acknowledgements at the front of the queue (they go before what arrived during the write). */
  private acksQueued = 0;
  /**
   * Per host, what it last reported that was fed to the engine: a heartbeat that repeats it is
   * not fed again (the engine would change nothing). Forgotten when the host is assigned, so
   * that a host already running the target is looked at again once its step starts.
   */
  private readonly lastFed = new Map<string, string>();
  /** The report object whose key `lastFed` holds for a host, when its last key came from a report. */
  private readonly lastFedReport = new Map<string, AppStatusReport>();
  /** Holds the queue while the start's first actions run. */
  private held = false;
  private timer: unknown;
  private timerAtMs: number | null = null;
  private conflicts = 0;
  private finishing = false;
  private finishTimer: unknown;
  private readonly releases = new Map<string, ArtifactRecord>();
  /** The registry's logger with this rollout's id: what is logged about the rollout goes here. */
  readonly log: Logger;

  constructor(
    state: RolloutState,
    revision: number,
    private readonly deps: LiveRolloutDeps,
  ) {
    this.state = state;
    this.published = state;
    this.revision = revision;
    this.hostIds = new Set(state.hosts.map((h) => h.hostId));
    this.selector = parseSelector(state.spec.selector);
    this.log = deps.logger.child({ rolloutId: state.id });
    this.watchers = new WatchThrottle({ timers: deps.timers, now: deps.now, logger: this.log, published: () => this.published });
  }

  get id(): string {
    return this.state.id;
  }

  /**
   * A failed step's revert found under way when the controller took the rollout up again: its
   * record is written (or found, and finished) and its hosts acknowledged before any event is
   * decided, as if the controller had not stopped in between.
   */
  async resumeRevert(): Promise<void> {
    if (!this.revertsThroughPath()) return;
    this.held = true;
    try {
      await this.revertThroughPath();
    } finally {
      this.held = false;
      this.kick();
    }
  }

  /** Carries out the start's first actions before any event is decided; `kick` then starts the loop. */
  async begin(actions: readonly RolloutAction[]): Promise<void> {
    this.held = true;
    try {
      await this.act(actions);
      this.publish();
    } finally {
      this.held = false;
    }
  }

  enqueue(event: RolloutEvent, waiter?: Waiter): void {
    this.queue.push(waiter ? { event, waiter } : { event });
    this.kick();
  }

  /** Decides `event` and resolves with its decision once its effects are carried out. */
  decideNow(event: RolloutEvent): Promise<{ decision: Decision; prior: RolloutState }> {
    return new Promise((resolve, reject) => this.enqueue(event, { resolve: (decision, prior) => resolve({ decision, prior }), reject }));
  }

  /** Whether `key` (what the host says now) is news for the engine; remembers it if so. */
  fresh(hostId: string, key: string): boolean {
    if (this.lastFed.get(hostId) === key) return false;
    this.lastFed.set(hostId, key);
    this.lastFedReport.delete(hostId);
    return true;
  }

  /** Forgets what the host last said: its next report is news. */
  private forget(hostId: string): void {
    this.lastFed.delete(hostId);
    this.lastFedReport.delete(hostId);
  }

  /**
   * `fresh` for an app report. The host registry hands on a report that says nothing new as the
   * very object it handed on before (hosts.ts), so the report fed last, seen again, is no news
   * without building its key: what keeps a fleet's steady heartbeats cheap during a rollout.
   */
  freshReport(hostId: string, report: AppStatusReport): boolean {
    if (this.lastFedReport.get(hostId) === report) return false;
    const news = this.fresh(hostId, reportKey(report));
    this.lastFedReport.set(hostId, report);
    return news;
  }

  /**
   * Waits for what an event set off (the acknowledgements of the writes it made) to be decided
   * too, so that a caller sees "reverted" rather than "reverting" when the writes went through.
   */
  async settled(): Promise<void> {
    // Bounded: a busy rollout (heartbeats keep arriving) is answered after a few rounds anyway.
    for (let round = 0; round < 4 && this.draining !== null; round++) await this.draining;
  }

  /** Clears every timer of the rollout: its wake-up, its finish, and a watcher update held back. */
  disarm(): void {
    if (this.finishTimer !== undefined) this.deps.timers.clear(this.finishTimer);
    this.finishTimer = undefined;
    this.watchers.disarm();
    this.disarmWake();
  }

  /** Decides what is queued, unless a batch is under way (it takes what queued meanwhile next). */
  kick(): void {
    if (this.draining !== null || this.held || this.queue.length === 0 || this.deps.phase() === 'stopped') return;
    this.draining = this.drain()
      .catch((err: unknown) => this.log.error({ err }, 'rollout event loop failed'))
      .finally(() => {
        this.draining = null;
        this.kick();
      });
  }

  private async drain(): Promise<void> {
    // Bounded by the queue: each round takes everything queued so far.
    while (this.queue.length > 0 && this.deps.phase() !== 'stopped') {
      this.acksQueued = 0;
      await this.transition(this.queue.splice(0));
    }
  }

  /** Decides a batch of events, writes the result, then carries out the actions. */
  private async transition(batch: Queued[]): Promise<void> {
    const t0 = performance.now();
    const before = this.state;
    let state = before;
    const actions: RolloutAction[] = [];
    // Only decisions someone waits for are kept: a batch can hold many thousand heartbeats.
    const decided: { item: Queued; decision: Decision; prior: RolloutState }[] = [];
    let failedStepStarted = false;
    let sliceStart = t0;
    for (const [i, item] of batch.entries()) {
      if (i % 256 === 255 && performance.now() - sliceStart > DECIDE_SLICE_MS) {
        // A batch of thousands of reports (after a large step's writes) is decided in slices,
        // so that heartbeats meanwhile are heard on time rather than after all of it.
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
      try {
        const prior = state;
        const decision = decide(state, item.event);
        state = decision.state;
        if (prior.status !== 'reverting' && state.status === 'reverting' && state.endedBy === 'engine') failedStepStarted = true;
        // The timer is armed from the final state; every decision asking for it adds nothing.
        for (const action of decision.actions) if (action.kind !== 'schedule') actions.push(action);
        if (item.waiter) decided.push({ item, decision, prior });
      } catch (err) {
        this.log.error({ event: item.event.kind, err }, 'rollout engine refused an event');
        item.waiter?.reject(err);
      }
    }
    const t1 = performance.now();
    const changed = state !== before;
    for (const action of actions) {
      if (action.kind === 'assign' || action.kind === 'revert') for (const hostId of action.hostIds) this.forget(hostId);
    }
    if (changed) {
      try {
        this.revision = await this.deps.store.update(state, this.revision);
        this.state = state;
        this.conflicts = 0;
      } catch (err) {
        await this.persistFailed(batch, decided, err);
        return;
      }
    }
    const t2 = performance.now();
    // A failed step that touched no host has no revert action; its record is written all the same.
    if (failedStepStarted && this.deps.reverts !== undefined && !actions.some((a) => a.kind === 'revert')) await this.revertThroughPath();
    await this.act(actions);
    this.publish();
    const t3 = performance.now();
    for (const { item, decision, prior } of decided) item.waiter?.resolve(decision, prior);
    if (actions.some((a) => a.kind === 'finished')) await this.finish();
    if (changed) {
      const stats: TransitionStats = { rolloutId: state.id, events: batch.length, decideMs: t1 - t0, persistMs: t2 - t1, actMs: t3 - t2 };
      this.deps.onTransition?.(stats);
      this.log.debug({ events: stats.events, decideMs: stats.decideMs, persistMs: stats.persistMs, actMs: stats.actMs, status: state.status, step: state.currentStep }, 'rollout transition');
    }
  }

  /**
   * Nothing of a batch whose state could not be written is acted on. A lost compare-and-set
   * race (another writer) reloads the state and decides the batch again; anything else drops
   * the batch (heartbeats repeat, unacknowledged writes are retried by the engine, operators
   * hear the error) and a tick comes back shortly.
   */
  private async persistFailed(batch: Queued[], decided: { item: Queued }[], err: unknown): Promise<void> {
    // What was fed and not written may have to be fed again: hear every host afresh.
    this.lastFed.clear();
    this.lastFedReport.clear();
    if (err instanceof ConflictError && this.conflicts < MAX_STATE_CONFLICTS) {
      this.conflicts++;
      const entry = await this.deps.store.read(this.state.id).catch(() => null);
      if (entry) {
        this.log.warn({ revision: entry.revision }, 'rollout state changed under us; deciding again from KV');
        this.state = entry.value;
        this.revision = entry.revision;
        // In front of what queued meanwhile; a loop, since a batch can hold many thousand events.
        const later = this.queue.splice(0);
        for (const item of batch) this.queue.push(item);
        for (const item of later) this.queue.push(item);
        return;
      }
    }
    this.conflicts = 0;
    const fe = toFlotillaError(err);
    for (const { item } of decided) item.waiter?.reject(fe);
    this.log.error({ err: fe }, 'cannot write rollout state; nothing acted on, trying again shortly');
    this.arm(this.deps.now() + PERSIST_RETRY_MS);
  }

  private async act(actions: readonly RolloutAction[]): Promise<void> {
    for (const action of actions) {
      try {
        switch (action.kind) {
          case 'assign':
            await this.assign(action.hostIds, action.version, action.kind, action.traffic);
            break;
          case 'revert':
            if (this.revertsThroughPath()) await this.revertThroughPath();
            else await this.assign(action.hostIds, action.version, action.kind);
            break;
          case 'mark-stable':
            await markStable(this.deps.finish, this.state);
            this.log.info({ app: this.state.spec.app, version: this.state.spec.version }, 'version marked stable');
            break;
          case 'schedule':
          case 'rejected':
          case 'finished':
            // The timer is armed from the state below, a refusal goes back to the caller, and
            // the end is settled once readers have seen it (see transition).
            break;
        }
      } catch (err) {
        // The state is written: a failed assignment is retried by the engine, a failed stable
        // marking by the finish bookkeeping.
        this.log.error({ action: action.kind, err }, 'rollout action failed');
      }
    }
    this.arm(this.state.wakeAtMs);
  }

  /** Whether this rollout's revert goes through the revert path: the engine stopped it for a failed step. */
  private revertsThroughPath(): boolean {
    return this.deps.reverts !== undefined && this.state.status === 'reverting' && this.state.endedBy === 'engine';
  }

  /**
   * A failed step's revert (its start, a retry of hosts not acknowledged, or its resumption):
   * the revert path writes or finishes the app's revert record and moves every host the rollout
   * touched, and the hosts written are acknowledged as the rollout's own writes are. When it
   * fails the engine sends the hosts again after a while, and this runs again (it is idempotent).
   */
  private async revertThroughPath(): Promise<void> {
    const version = this.state.stableVersion as string;
    const touched = this.state.hosts.filter((h) => h.assignedAtMs !== null).map((h) => h.hostId);
    let written: readonly string[] | null;
    try {
      written = await (this.deps.reverts as FailedStepReverts).revertFailedStep(this.state, touched);
    } catch (err) {
      this.log.error({ err }, 'failed step revert not carried out; the engine sends its hosts again shortly');
      return;
    }
    // An alarm's revert of this rollout stands in the record: the rollout moves its own hosts.
    if (written === null) return this.assign(touched, version, 'revert');
    this.log.info({ version, hosts: written.length }, 'hosts reverted through the revert path');
    this.acknowledge(written, version);
  }

  /** Assigns, then acknowledges the hosts written ahead of what arrived during the write. */
  private async assign(hostIds: readonly string[], version: string, kind: 'assign' | 'revert', traffic?: TrafficTarget): Promise<void> {
    const app = this.state.spec.app;
    const written = await assignVersion(
      this.deps.assignments,
      {
        app,
        hostIds,
        version,
        kind,
        release: await this.release(version),
        stableVersion: this.state.stableVersion,
        ...(traffic ? { traffic } : {}),
      },
      this.log,
    );
    this.acknowledge(written, version);
  }

  private acknowledge(written: readonly string[], version: string): void {
    if (written.length === 0) return;
    // Decided first, the hosts' reports meanwhile do not find them unacknowledged (and send them again).
    this.queue.splice(this.acksQueued++, 0, { event: { kind: 'assigned', hostIds: [...written], version, nowMs: this.deps.now() } });
    this.kick();
  }

  private async release(version: string): Promise<ArtifactRecord> {
    let artifact = this.releases.get(version);
    if (!artifact) {
      artifact = await this.deps.releases.requireArtifact(this.state.spec.app, version);
      this.releases.set(version, artifact);
    }
    return artifact;
  }

  private publish(): void {
    if (this.published === this.state) return;
    this.published = this.state;
    this.watchers.changed();
  }

  /** The finished rollout's bookkeeping, retried until it succeeds; then it is no longer driven. */
  private async finish(): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    try {
      await settleFinished(this.deps.finish, this.state);
    } catch (err) {
      this.log.error({ err }, 'cannot record the end of a rollout; trying again');
      this.finishTimer = this.deps.timers.set(() => {
        this.finishTimer = undefined;
        this.finishing = false;
        void this.finish();
      }, FINISH_RETRY_MS);
      return;
    }
    this.deps.finished(this);
    this.log.info({ status: this.state.status, reason: this.state.endReason, by: this.state.endedBy }, 'rollout finished');
  }

  /** (Re)arms the rollout's one timer; a tick is fed when it fires. */
  private arm(atMs: number | null): void {
    if (this.timerAtMs === atMs && (atMs === null || this.timer !== undefined)) return;
    this.disarmWake();
    const phase = this.deps.phase();
    if (atMs === null || phase === 'stopping' || phase === 'stopped') return;
    this.timerAtMs = atMs;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, atMs - this.deps.now()));
    this.timer = this.deps.timers.set(() => {
      this.timer = undefined;
      this.timerAtMs = null;
      this.enqueue({ kind: 'tick', nowMs: this.deps.now() });
    }, delay);
  }

  private disarmWake(): void {
    if (this.timer !== undefined) this.deps.timers.clear(this.timer);
    this.timer = undefined;
    this.timerAtMs = null;
  }
}
