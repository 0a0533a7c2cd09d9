import { performance } from 'node:perf_hooks';
import {
  ConflictError,
  FlotillaError,
  NotFoundError,
  ValidationError,
  assertAppName,
  errorMessage,
  matchesSelector,
  parseSelector,
  toFlotillaError,
  type AppStatusReport,
  type Logger,
  type SelectorTerm,
} from '@flotilla/shared';
import type { AppsMutation, AssignResult } from '../assignments.js';
import { KeyedMutex } from '../concurrency.js';
import { CONFLICT_KIND } from '../errors.js';
import type { HostEvent, HostListener, HostView } from '../hosts.js';
import {
  decide,
  formatPlan,
  isFinished,
  makeRolloutSpec,
  planSteps,
  startRollout,
  type Decision,
  type PlanHost,
  type RolloutAction,
  type RolloutEvent,
  type RolloutSpecInput,
  type RolloutState,
} from '../rollout/index.js';
import type { JsonBucket } from '../store/kv.js';
import type { AppRecord, ArtifactRecord, BadVersionRecord } from '../store/records.js';
import { appOfRolloutId, summarise, type RolloutSummaryRecord, type StablePeriodRecord } from './records.js';
import type { RolloutStore } from './store.js';

/** The fleet as the rollouts see it: the host registry. */
export interface RolloutHostSource {
  list(): HostView[];
  subscribe(listener: HostListener): () => void;
}

/** Writes hosts' desired state: the assignment writer. */
export interface RolloutAssigner {
  assignMany(hostIds: readonly string[], mutate: AppsMutation): Promise<AssignResult[]>;
}

/** Stored artifacts' records: the artifact store. */
export interface ArtifactLookup {
  get(app: string, version: string): Promise<ArtifactRecord | null>;
  list(app?: string): Promise<ArtifactRecord[]>;
}

/** Timers, injected so that tests drive time by hand. */
export interface RolloutTimers {
  set(fire: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

/** What one transition cost: deciding its events, writing the state, carrying out its actions. */
export interface TransitionStats {
  rolloutId: string;
  /** Events decided together (those that queued while the previous transition was written). */
  events: number;
  decideMs: number;
  persistMs: number;
  actMs: number;
}

export interface RolloutManagerOptions {
  store: RolloutStore;
  apps: JsonBucket<AppRecord>;
  artifacts: ArtifactLookup;
  hosts: RolloutHostSource;
  assignments: RolloutAssigner;
  logger: Logger;
  /** @default Date.now */
  now?: () => number;
  /** @default Node's setTimeout/clearTimeout (unref'd) */
  timers?: RolloutTimers;
  /** Told about every transition that changed a rollout (metrics, benchmarks). */
  onTransition?: (stats: TransitionStats) => void;
}

/** An app's versions and rollouts, for `flotilla history`. */
export interface AppHistory {
  app: string;
  stableVersion: string | null;
  stableSinceMs: number | null;
  previousStableVersion: string | null;
  /** Oldest first: versions with an artifact, and versions that were once stable. */
  versions: {
    version: string;
    uploadedAtMs: number | null;
    stable: boolean;
    periods: StablePeriodRecord[];
    /** Set when the version is marked bad. */
    bad: BadVersionRecord | null;
  }[];
  /** Newest first. */
  rollouts: RolloutSummaryRecord[];
}

/** Told of every change of one rollout, and when the controller stops before it finished. */
export interface RolloutWatcher {
  change(state: RolloutState): void;
  closed(): void;
}

export type OperatorCommand = 'pause' | 'resume' | 'promote' | 'abort';
export const OPERATOR_COMMANDS: readonly OperatorCommand[] = ['pause', 'resume', 'promote', 'abort'];

/** Wait before trying again after a state could not be written (KV unavailable). */
const PERSIST_RETRY_MS = 1_000;
/** Wait between tries of a finished rollout's bookkeeping (stable version, history, claim). */
const FINISH_RETRY_MS = 5_000;
/** Lost compare-and-set races on one rollout's state before a batch of events is dropped. */
const MAX_STATE_CONFLICTS = 3;
/** setTimeout's ceiling; a later wake-up fires early, changes nothing, and is armed again. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Watchers of a rollout are told of its changes at most this often per host in it (a rollout of
 * 25,000 hosts: every 250 ms), since each message to them carries every host; the end, and any
 * change of a rollout under 100 hosts, at once.
 */
const WATCH_INTERVAL_MS_PER_HOST = 0.01;
/** Longest stretch of deciding before other work (heartbeats) gets the event loop. */
const DECIDE_SLICE_MS = 20;
/** Who may be named as an actor (it lands in logs and the event log). */
const ACTOR = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

const realTimers: RolloutTimers = {
  set: (fire, delayMs) => setTimeout(fire, delayMs).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Waiter {
  /** `prior` is the state the event was decided from. */
  resolve(decision: Decision, prior: RolloutState): void;
  reject(err: unknown): void;
}

/** What an alarm fed to an app's live rollout did. */
export interface LiveAlarmResult {
  /** The rollout as the alarm found it. */
  prior: RolloutState;
  /** The rollout after the alarm's effects were carried out. */
  state: RolloutState;
}

interface Queued {
  event: RolloutEvent;
  waiter?: Waiter;
}

/** A rollout this controller drives. */
interface LiveRollout {
  /** The state as last written to KV: what the engine decides from. */
  state: RolloutState;
  revision: number;
  /** What readers see: the state once its actions have been carried out. */
  published: RolloutState;
  readonly hostIds: ReadonlySet<string>;
  readonly selector: readonly SelectorTerm[];
  readonly queue: Queued[];
  /** Acknowledgements at the front of the queue (they go before what arrived during the write). */
  acksQueued: number;
  /**
   * Per host, what it last reported that was fed to the engine: a heartbeat that repeats it is
   * not fed again (the engine would change nothing). Forgotten when the host is assigned, so
   * that a host already running the target is looked at again once its step starts.
   */
  readonly lastFed: Map<string, string>;
  draining: Promise<void> | null;
  /** Holds the queue while the start's first actions run. */
  held: boolean;
  timer: unknown;
  timerAtMs: number | null;
  conflicts: number;
  finishing: boolean;
  finishTimer: unknown;
  readonly watchers: Set<RolloutWatcher>;
  /** When watchers were last told, and the timer of a change they are still to be told of. */
  toldAtMs: number;
  tellTimer: unknown;
  readonly releases: Map<string, ArtifactRecord>;
}

/** What in a host's report the engine looks at, as one string: equal strings, same decision. */
function reportKey(r: AppStatusReport): string {
  return JSON.stringify([r.desiredVersion, r.activeVersion, r.installVersion, r.installPhase, r.processState, r.health, r.restarts, r.error]);
}

/** Checks the name of who asks; the event log and logs carry it. */
export function checkActor(actor: string | undefined): string {
  const name = (actor ?? '').trim();
  if (name === '') return 'unknown';
  if (!ACTOR.test(name)) {
    throw new ValidationError(`actor "${name}" is invalid: use up to 64 letters, digits, '.', '_', '@', '+' or '-'`);
  }
  return name;
}

/**
 * The rollout engine's I/O layer. The engine (../rollout) decides; this class feeds it events
 * (host reports from heartbeats, hosts going down, timers, operator commands, alarms), writes
 * each new state to KV with compare-and-set BEFORE carrying out its actions (assignments,
 * marking a version stable, the next timer), and keeps the one-rollout-per-app claim and each
 * app's history.
 *
 * Events for one rollout are decided one batch at a time: those that arrive while a state is
 * being written queue up, and are decided together into one write. A heartbeat that changes
 * nothing costs one `decide` and no write.
 */
export class RolloutManager {
  private readonly live = new Map<string, LiveRollout>();
  private readonly byApp = new Map<string, LiveRollout>();
  private readonly byHost = new Map<string, Set<LiveRollout>>();
  private readonly starts = new KeyedMutex();
  private readonly now: () => number;
  private readonly timers: RolloutTimers;
  private readonly logger: Logger;
  private readonly store: RolloutStore;
  private unsubscribe: (() => void) | undefined;
  private phase: 'loaded' | 'running' | 'stopping' | 'stopped' = 'loaded';

  private constructor(private readonly opts: RolloutManagerOptions) {
    this.now = opts.now ?? Date.now;
    this.timers = opts.timers ?? realTimers;
    this.logger = opts.logger;
    this.store = opts.store;
  }

  /**
   * Loads the rollouts that were active when the controller last stopped. Claims left by a
   * rollout that finished (or was never written) are settled here: the stable version, the
   * history and the claim are brought up to date.
   */
  static async load(opts: RolloutManagerOptions): Promise<RolloutManager> {
    const manager = new RolloutManager(opts);
    for (const claim of await manager.store.claims()) {
      const id = claim.rolloutId as string;
      const entry = await manager.store.read(id);
      if (entry === null) {
        manager.logger.warn({ app: claim.app, rolloutId: id }, 'claim names a rollout that was never written; freeing it');
        await manager.store.free(claim.app, id, manager.now());
        continue;
      }
      if (isFinished(entry.value.status)) {
        await manager.settleFinished(entry.value);
        continue;
      }
      manager.register(entry.value, entry.revision);
      manager.logger.info(
        { rolloutId: id, app: claim.app, status: entry.value.status, step: entry.value.currentStep },
        'resuming rollout',
      );
    }
    return manager;
  }

  /** Starts listening to hosts and resumes every loaded rollout with a tick. */
  listen(): void {
    if (this.phase !== 'loaded') return;
    this.phase = 'running';
    this.unsubscribe = this.opts.hosts.subscribe((event) => this.onHostEvent(event));
    for (const live of this.live.values()) {
      this.feedDownHosts(live);
      this.enqueue(live, { kind: 'tick', nowMs: this.now() });
    }
  }

  /** Stops taking events and timers; waits (at most `graceMs`) for transitions in flight. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.phase === 'stopped' || this.phase === 'stopping') return;
    this.phase = 'stopping';
    this.unsubscribe?.();
    for (const live of this.live.values()) this.disarm(live);
    let timer: unknown;
    await Promise.race([
      this.idle(),
      new Promise<void>((resolve) => {
        timer = this.timers.set(resolve, graceMs);
      }),
    ]);
    this.timers.clear(timer);
    this.phase = 'stopped';
  }

  /** Resolves once no transition is in flight and nothing is queued (tests, shutdown). */
  async idle(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      const busy = [...this.live.values()].map((l) => l.draining).filter((d): d is Promise<void> => d !== null);
      if (busy.length === 0) return;
      await Promise.all(busy);
    }
  }

  // ---- the operator's API ---------------------------------------------------------------------

  /**
   * Starts a rollout (or only plans it: `dryRun`). Resolves once the state is written and the
   * first step's hosts are assigned. Refused while another rollout of the app is active.
   */
  async start(
    input: RolloutSpecInput,
    opts: { dryRun?: boolean; force?: boolean } = {},
  ): Promise<{ state: RolloutState | null; plan: string }> {
    const spec = makeRolloutSpec({ ...input, createdBy: checkActor(input.createdBy) });
    const { app, version } = spec;
    await this.requireArtifact(app, version);
    if (!opts.force) await this.refuseBad(app, version);
    const selector = parseSelector(spec.selector);
    const known = this.opts.hosts.list();
    const hosts: PlanHost[] = known
      .filter((h) => matchesSelector(h.record.labels, selector))
      .map((h) => ({ hostId: h.record.hostId, labels: h.record.labels }));
    const plan = formatPlan(planSteps(hosts, spec), spec, hosts);
    if (opts.dryRun) return { state: null, plan };
    if (hosts.length === 0) {
      const which = spec.selector === '' ? 'no host is known' : `no host matches selector "${spec.selector}"`;
      throw new ValidationError(`${which} (${known.length} hosts known); nothing to roll ${app}@${version} out to`);
    }
    if (this.phase !== 'running' && this.phase !== 'loaded') {
      throw new ConflictError('the controller is stopping; start the rollout again once it is back', {
        details: { kind: CONFLICT_KIND.state },
      });
    }

    return this.starts.run(app, async () => {
      // Again under the app's lock: an alarm may have marked the version bad meanwhile.
      if (!opts.force) await this.refuseBad(app, version);
      const running = this.byApp.get(app);
      if (running && !isFinished(running.state.status)) {
        throw new ConflictError(
          `rollout ${running.state.id} of ${app} is still ${running.state.status} (${app}@${running.state.spec.version}); ` +
            `one rollout at a time per app: wait for it, or abort it (flotilla rollout abort ${running.state.id})`,
          { details: { kind: CONFLICT_KIND.state, rolloutId: running.state.id } },
        );
      }
      const stableVersion = (await this.opts.apps.get(app))?.value.stableVersion ?? null;
      const nowMs = this.now();
      const id = await this.store.nextId(app, nowMs);
      await this.store.claim(app, id, nowMs);
      let decision: Decision;
      let revision: number;
      try {
        decision = startRollout(spec, hosts, stableVersion, nowMs, id);
        revision = await this.store.create(decision.state);
      } catch (err) {
        await this.store.free(app, id, nowMs).catch(() => undefined);
        throw err;
      }
      await this.store
        .recordSummary(decision.state)
        .catch((err: unknown) => this.logger.warn({ rolloutId: id, err: errorMessage(err) }, 'cannot record rollout in history yet'));
      const live = this.register(decision.state, revision);
      live.held = true;
      try {
        await this.act(live, decision.actions);
        this.publish(live);
      } finally {
        live.held = false;
      }
      this.feedDownHosts(live);
      this.kick(live);
      this.logger.info(
        { rolloutId: id, app, version, hosts: hosts.length, steps: decision.state.steps.length, stableVersion, by: spec.createdBy },
        'rollout started',
      );
      return { state: live.published, plan };
    });
  }

  /** A rollout by id, or the active (else the latest) rollout of an app. */
  async get(ref: { id?: string; app?: string }): Promise<RolloutState> {
    if (ref.id) {
      appOfRolloutId(ref.id);
      const live = this.live.get(ref.id);
      if (live) return live.published;
      const entry = await this.store.read(ref.id);
      if (!entry) throw new NotFoundError(`no rollout ${ref.id}`);
      return entry.value;
    }
    if (!ref.app) throw new ValidationError('name a rollout id or an app');
    const app = assertAppName(ref.app);
    const live = this.byApp.get(app);
    if (live) return live.published;
    const latest = (await this.store.history(app)).rollouts.at(-1);
    if (!latest) throw new NotFoundError(`app "${app}" has had no rollout yet`);
    const entry = await this.store.read(latest.id);
    if (!entry) throw new NotFoundError(`the latest rollout of ${app}, ${latest.id}, has no stored state`);
    return entry.value;
  }

  /** Rollouts, newest first, optionally of one app. */
  async list(app?: string): Promise<RolloutSummaryRecord[]> {
    const histories = app ? [await this.store.history(assertAppName(app))] : await this.store.histories();
    const byId = new Map<string, RolloutSummaryRecord>();
    for (const h of histories) for (const r of h.rollouts) byId.set(r.id, r);
    // The rollouts being driven are more current than their history entry.
    for (const live of this.live.values()) {
      if (!app || live.state.spec.app === app) byId.set(live.state.id, summarise(live.published));
    }
    return [...byId.values()].sort((a, b) => b.createdAtMs - a.createdAtMs || (a.id < b.id ? 1 : -1));
  }

  /** An app's versions (stable when, and through which rollout) and how its rollouts ended. */
  async history(appName: string): Promise<AppHistory> {
    const app = assertAppName(appName);
    const [record, appRecord, artifacts] = await Promise.all([
      this.store.history(app),
      this.opts.apps.get(app),
      this.opts.artifacts.list(app),
    ]);
    if (!appRecord && artifacts.length === 0 && record.rollouts.length === 0) {
      throw new NotFoundError(`app "${app}" is unknown: no artifact has been pushed for it`);
    }
    const stableVersion = appRecord?.value.stableVersion ?? null;
    const bad = new Map((appRecord?.value.badVersions ?? []).map((b) => [b.version, b]));
    const versions = new Map<string, AppHistory['versions'][number]>();
    const entry = (version: string, uploadedAtMs: number | null) => ({
      version,
      uploadedAtMs,
      stable: version === stableVersion,
      periods: [] as StablePeriodRecord[],
      bad: bad.get(version) ?? null,
    });
    for (const a of artifacts) versions.set(a.version, entry(a.version, a.uploadedAtMs));
    for (const period of record.stable) {
      let v = versions.get(period.version);
      if (!v) {
        v = entry(period.version, null);
        versions.set(period.version, v);
      }
      v.periods.push(period);
    }
    const rollouts = await this.list(app);
    return {
      app,
      stableVersion,
      stableSinceMs: appRecord?.value.stableSinceMs ?? null,
      previousStableVersion: appRecord?.value.previousStableVersion ?? null,
      versions: [...versions.values()].sort(
        (a, b) => (a.uploadedAtMs ?? a.periods[0]?.sinceMs ?? 0) - (b.uploadedAtMs ?? b.periods[0]?.sinceMs ?? 0),
      ),
      rollouts,
    };
  }

  /**
   * pause | resume | promote | abort. Resolves with the rollout once the command's effects are
   * carried out; a command the rollout's state does not allow is a ConflictError with the
   * engine's reason.
   */
  async command(
    id: string,
    command: string,
    opts: { noRevert?: boolean; actor?: string } = {},
  ): Promise<RolloutState> {
    if (!OPERATOR_COMMANDS.includes(command as OperatorCommand)) {
      throw new ValidationError(`"${command}" is not a rollout command (use ${OPERATOR_COMMANDS.join(', ')})`);
    }
    if (opts.noRevert && command !== 'abort') throw new ValidationError('--no-revert goes with abort only');
    appOfRolloutId(id);
    const event: RolloutEvent = {
      kind: 'operator',
      command: command as OperatorCommand,
      ...(opts.noRevert ? { noRevert: true } : {}),
      actor: `operator:${checkActor(opts.actor)}`,
      nowMs: this.now(),
    };
    const live = this.live.get(id);
    let decision: Decision;
    if (live && !isFinished(live.state.status)) {
      decision = await new Promise<Decision>((resolve, reject) => this.enqueue(live, event, { resolve: (d) => resolve(d), reject }));
    } else {
      const state = live?.state ?? (await this.store.read(id))?.value;
      if (!state) throw new NotFoundError(`no rollout ${id}`);
      // Finished: the engine says why the command cannot apply.
      decision = decide(state, event);
    }
    const rejected = decision.actions.find((a) => a.kind === 'rejected');
    if (rejected) throw new ConflictError(rejected.message, { details: { kind: CONFLICT_KIND.state, rolloutId: id } });
    if (!live) throw new ConflictError(`rollout ${id} is not driven by this controller`, { details: { kind: CONFLICT_KIND.state } });
    this.logger.info({ rolloutId: id, command, noRevert: opts.noRevert === true, actor: event.actor }, 'rollout command');
    await this.settled(live);
    return live.published;
  }

  /**
   * An alarm for an app (alert webhooks, built-in health alarms): the app's active rollout
   * stops and reverts (unless it runs without auto-revert). Resolves with the rollout after the
   * alarm, or null when no rollout of the app is active.
   */
  async alarm(app: string, source: string, reason: string): Promise<RolloutState | null> {
    return (await this.alarmLive(app, source, reason))?.state ?? null;
  }

  /**
   * Feeds an alarm to the app's live rollout and waits for its effects. Null when the app has no
   * active rollout, or its rollout had ended by the time the alarm was decided (the end's
   * bookkeeping, such as marking the version stable, is done when this resolves). Concurrent
   * alarms are decided one after the other: only the first finds the rollout active.
   */
  async alarmLive(app: string, source: string, reason: string): Promise<LiveAlarmResult | null> {
    const live = this.byApp.get(assertAppName(app));
    if (!live) return null;
    if (isFinished(live.state.status)) {
      await this.settled(live);
      return null;
    }
    const { prior } = await new Promise<{ decision: Decision; prior: RolloutState }>((resolve, reject) =>
      this.enqueue(live, { kind: 'alarm', source, reason, nowMs: this.now() }, { resolve: (decision, p) => resolve({ decision, prior: p }), reject }),
    );
    await this.settled(live);
    if (isFinished(prior.status)) return null;
    this.logger.warn({ rolloutId: live.state.id, app, source, reason, was: prior.status, now: live.published.status }, 'alarm for an active rollout');
    return { prior, state: live.published };
  }

  /** The app's active rollout (as readers see it), or null. */
  activeRollout(app: string): RolloutState | null {
    const live = this.byApp.get(app);
    return live && !isFinished(live.state.status) ? live.published : null;
  }

  /**
   * Runs `fn` while no rollout of the app can start (the lock `start` takes): reverts outside the
   * engine run here, so that a rollout and a revert of one app never interleave in this process.
   */
  exclusive<T>(app: string, fn: () => Promise<T>): Promise<T> {
    return this.starts.run(app, fn);
  }

  /** Refuses a version marked bad (ConflictError naming why), unless the caller forces it. */
  private async refuseBad(app: string, version: string): Promise<void> {
    const bad = (await this.opts.apps.get(app))?.value.badVersions?.find((b) => b.version === version);
    if (!bad) return;
    throw new ConflictError(
      `${app}@${version} is marked bad (${bad.by}, ${new Date(bad.atMs).toISOString()}: ${bad.reason}); ` +
        'pass --force to roll it out all the same',
      { details: { kind: CONFLICT_KIND.state, badVersion: version } },
    );
  }

  /**
   * The rollout now, and a watcher told of every change until it finishes. The watcher gets
   * each state once its actions are carried out; call `unsubscribe` when done.
   */
  async watch(ref: { id?: string; app?: string }, watcher: RolloutWatcher): Promise<{ state: RolloutState; unsubscribe: () => void }> {
    const state = await this.get(ref);
    const live = this.live.get(state.id);
    if (!live || isFinished(state.status)) return { state, unsubscribe: () => {} };
    live.watchers.add(watcher);
    return { state: live.published, unsubscribe: () => live.watchers.delete(watcher) };
  }

  /** Tells every watcher the controller is stopping (before the gRPC server waits for its calls). */
  closeWatches(): void {
    for (const live of this.live.values()) {
      for (const watcher of live.watchers) watcher.closed();
      live.watchers.clear();
    }
  }

  /** The ids of the rollouts this controller drives. */
  activeIds(): string[] {
    return [...this.live.keys()];
  }

  // ---- events ---------------------------------------------------------------------------------

  private onHostEvent(event: HostEvent): void {
    const lives = this.byHost.get(event.hostId);
    if (lives === undefined || this.phase !== 'running') return;
    const nowMs = this.now();
    for (const live of lives) {
      if (event.type === 'heartbeat') {
        if (!matchesSelector(event.record.labels, live.selector)) {
          if (this.fresh(live, event.hostId, 'removed')) this.enqueue(live, { kind: 'host-removed', hostId: event.hostId, nowMs });
          continue;
        }
        const app = live.state.spec.app;
        const report = event.heartbeat.apps.find((a) => a.app === app);
        if (report && this.fresh(live, event.hostId, reportKey(report))) {
          this.enqueue(live, { kind: 'host-report', hostId: event.hostId, report, nowMs });
        }
      } else if (event.type === 'state' && event.state === 'down') {
        if (this.fresh(live, event.hostId, 'down')) this.enqueue(live, { kind: 'host-report', hostId: event.hostId, report: null, nowMs });
      }
    }
  }

  /** Whether `key` (what the host says now) is news for the engine; remembers it if so. */
  private fresh(live: LiveRollout, hostId: string, key: string): boolean {
    if (live.lastFed.get(hostId) === key) return false;
    live.lastFed.set(hostId, key);
    return true;
  }

  /** Tells the engine about hosts of the rollout that are down now (they fail when their step starts). */
  private feedDownHosts(live: LiveRollout): void {
    const nowMs = this.now();
    for (const host of this.opts.hosts.list()) {
      if (host.record.state === 'down' && live.hostIds.has(host.record.hostId) && this.fresh(live, host.record.hostId, 'down')) {
        this.enqueue(live, { kind: 'host-report', hostId: host.record.hostId, report: null, nowMs });
      }
    }
  }

  /**
   * Waits for what an event set off (the acknowledgements of the writes it made) to be decided
   * too, so that a caller sees "reverted" rather than "reverting" when the writes went through.
   */
  private async settled(live: LiveRollout): Promise<void> {
    // Bounded: a busy rollout (heartbeats keep arriving) is answered after a few rounds anyway.
    for (let round = 0; round < 4 && live.draining !== null; round++) await live.draining;
  }

  private enqueue(live: LiveRollout, event: RolloutEvent, waiter?: Waiter): void {
    live.queue.push(waiter ? { event, waiter } : { event });
    this.kick(live);
  }

  private kick(live: LiveRollout): void {
    if (live.draining !== null || live.held || live.queue.length === 0 || this.phase === 'stopped') return;
    live.draining = this.drain(live)
      .catch((err: unknown) => this.logger.error({ rolloutId: live.state.id, err: errorMessage(err) }, 'rollout event loop failed'))
      .finally(() => {
        live.draining = null;
        this.kick(live);
      });
  }

  private async drain(live: LiveRollout): Promise<void> {
    // Bounded by the queue: each round takes everything queued so far.
    while (live.queue.length > 0 && this.phase !== 'stopped') {
      live.acksQueued = 0;
      await this.transition(live, live.queue.splice(0));
    }
  }

  /** Decides a batch of events, writes the result, then carries out the actions. */
  private async transition(live: LiveRollout, batch: Queued[]): Promise<void> {
    const t0 = performance.now();
    const before = live.state;
    let state = before;
    const actions: RolloutAction[] = [];
    // Only decisions someone waits for are kept: a batch can hold many thousand heartbeats.
    const decided: { item: Queued; decision: Decision; prior: RolloutState }[] = [];
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
        // The timer is armed from the final state; every decision asking for it adds nothing.
        for (const action of decision.actions) if (action.kind !== 'schedule') actions.push(action);
        if (item.waiter) decided.push({ item, decision, prior });
      } catch (err) {
        this.logger.error({ rolloutId: before.id, event: item.event.kind, err: errorMessage(err) }, 'rollout engine refused an event');
        item.waiter?.reject(err);
      }
    }
    const t1 = performance.now();
    const changed = state !== before;
    for (const action of actions) {
      if (action.kind === 'assign' || action.kind === 'revert') for (const hostId of action.hostIds) live.lastFed.delete(hostId);
    }
    if (changed) {
      try {
        live.revision = await this.store.update(state, live.revision);
        live.state = state;
        live.conflicts = 0;
      } catch (err) {
        await this.persistFailed(live, batch, decided, err);
        return;
      }
    }
    const t2 = performance.now();
    await this.act(live, actions);
    this.publish(live);
    const t3 = performance.now();
    for (const { item, decision, prior } of decided) item.waiter?.resolve(decision, prior);
    if (actions.some((a) => a.kind === 'finished')) await this.finish(live);
    if (changed) {
      const stats: TransitionStats = {
        rolloutId: state.id,
        events: batch.length,
        decideMs: t1 - t0,
        persistMs: t2 - t1,
        actMs: t3 - t2,
      };
      this.opts.onTransition?.(stats);
      this.logger.debug({ ...stats, status: state.status, step: state.currentStep }, 'rollout transition');
    }
  }

  /**
   * Nothing of a batch whose state could not be written is acted on. A lost compare-and-set
   * race (another writer) reloads the state and decides the batch again; anything else drops
   * the batch (heartbeats repeat, unacknowledged writes are retried by the engine, operators
   * hear the error) and a tick comes back shortly.
   */
  private async persistFailed(live: LiveRollout, batch: Queued[], decided: { item: Queued }[], err: unknown): Promise<void> {
    const id = live.state.id;
    // What was fed and not written may have to be fed again: hear every host afresh.
    live.lastFed.clear();
    if (err instanceof ConflictError && live.conflicts < MAX_STATE_CONFLICTS) {
      live.conflicts++;
      const entry = await this.store.read(id).catch(() => null);
      if (entry) {
        this.logger.warn({ rolloutId: id, revision: entry.revision }, 'rollout state changed under us; deciding again from KV');
        live.state = entry.value;
        live.revision = entry.revision;
        // In front of what queued meanwhile; a loop, since a batch can hold many thousand events.
        const later = live.queue.splice(0);
        for (const item of batch) live.queue.push(item);
        for (const item of later) live.queue.push(item);
        return;
      }
    }
    live.conflicts = 0;
    const fe = toFlotillaError(err);
    for (const { item } of decided) item.waiter?.reject(fe);
    this.logger.error({ rolloutId: id, err: fe.message }, 'cannot write rollout state; nothing acted on, trying again shortly');
    this.arm(live, this.now() + PERSIST_RETRY_MS);
  }

  // ---- actions --------------------------------------------------------------------------------

  private async act(live: LiveRollout, actions: readonly RolloutAction[]): Promise<void> {
    for (const action of actions) {
      try {
        switch (action.kind) {
          case 'assign':
          case 'revert':
            await this.setVersion(live, action.hostIds, action.version, action.kind);
            break;
          case 'mark-stable':
            await this.markStable(live.state);
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
        this.logger.error({ rolloutId: live.state.id, action: action.kind, err: errorMessage(err) }, 'rollout action failed');
      }
    }
    this.arm(live, live.state.wakeAtMs);
  }

  /**
   * Sets the app's desired version on these hosts (one idempotent write per host that changes;
   * a host already there is left alone) and acknowledges the ones written. The stable version
   * travels along so that agents keep it on disk for a revert.
   */
  private async setVersion(live: LiveRollout, hostIds: readonly string[], version: string, kind: 'assign' | 'revert'): Promise<void> {
    const state = live.state;
    const app = state.spec.app;
    const artifact = await this.release(live, version);
    const stableVersion = state.stableVersion;
    const mutate: AppsMutation = (apps) => ({
      ...apps,
      [app]: { version, release: artifact.signed, ...(stableVersion ? { stableVersion } : {}) },
    });
    let written: readonly string[] = hostIds;
    try {
      await this.opts.assignments.assignMany(hostIds, mutate);
    } catch (err) {
      const failed = err instanceof FlotillaError && Array.isArray(err.details.failed) ? new Set(err.details.failed as string[]) : new Set(hostIds);
      written = hostIds.filter((h) => !failed.has(h));
      this.logger.warn(
        { rolloutId: state.id, kind, version, failed: failed.size, err: errorMessage(err) },
        'some assignments were not written; the engine sends them again',
      );
    }
    this.logger.info({ rolloutId: state.id, kind, version, hosts: written.length }, kind === 'assign' ? 'hosts assigned' : 'hosts reverted');
    if (written.length > 0) {
      // The write happened before whatever arrived while it ran: decided first, the hosts'
      // reports meanwhile do not find them unacknowledged (and send them again).
      live.queue.splice(live.acksQueued++, 0, { event: { kind: 'assigned', hostIds: [...written], version, nowMs: this.now() } });
      this.kick(live);
    }
  }

  private async release(live: LiveRollout, version: string): Promise<ArtifactRecord> {
    let artifact = live.releases.get(version);
    if (!artifact) {
      artifact = await this.requireArtifact(live.state.spec.app, version);
      live.releases.set(version, artifact);
    }
    return artifact;
  }

  private async requireArtifact(app: string, version: string): Promise<ArtifactRecord> {
    const artifact = await this.opts.artifacts.get(app, version);
    if (artifact) return artifact;
    const known = (await this.opts.artifacts.list(app)).map((a) => a.version);
    if (known.length === 0) throw new NotFoundError(`app "${app}" has no artifacts: push one first (flotilla artifact push)`);
    throw new NotFoundError(`app "${app}" has no artifact for version "${version}" (known versions: ${known.join(', ')})`);
  }

  /**
   * Records the rollout's version as the app's stable version (idempotent); the one it replaces
   * becomes the previous stable version. A version that was marked bad and was rolled out with
   * --force to success is bad no more.
   */
  private async markStable(state: RolloutState): Promise<void> {
    const { app, version } = state.spec;
    const sinceMs = state.finishedAtMs ?? this.now();
    await this.opts.apps.updateWithRetry(app, (current) => {
      if (current?.value.stableVersion === version) return undefined;
      const record: AppRecord = current?.value ?? { name: app, stableVersion: null, stableSinceMs: null, createdAtMs: sinceMs };
      const previous = record.stableVersion ?? record.previousStableVersion ?? null;
      return {
        ...record,
        stableVersion: version,
        stableSinceMs: sinceMs,
        previousStableVersion: previous === version ? (record.previousStableVersion ?? null) : previous,
        badVersions: (record.badVersions ?? []).filter((b) => b.version !== version),
      };
    });
    await this.store.recordStable(app, version, sinceMs, state.id);
    this.logger.info({ rolloutId: state.id, app, version }, 'version marked stable');
  }

  /** A finished rollout's bookkeeping, then it is no longer driven. Retried until it succeeds. */
  private async finish(live: LiveRollout): Promise<void> {
    if (live.finishing) return;
    live.finishing = true;
    const state = live.state;
    try {
      await this.settleFinished(state);
    } catch (err) {
      this.logger.error({ rolloutId: state.id, err: errorMessage(err) }, 'cannot record the end of a rollout; trying again');
      live.finishTimer = this.timers.set(() => {
        live.finishTimer = undefined;
        live.finishing = false;
        void this.finish(live);
      }, FINISH_RETRY_MS);
      return;
    }
    this.unregister(live);
    this.logger.info({ rolloutId: state.id, status: state.status, reason: state.endReason, by: state.endedBy }, 'rollout finished');
  }

  /** Idempotent: the stable version (on success), the history entry, then the claim. */
  private async settleFinished(state: RolloutState): Promise<void> {
    if (state.status === 'succeeded') await this.markStable(state);
    await this.store.recordSummary(state);
    await this.store.free(state.spec.app, state.id, this.now());
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  private register(state: RolloutState, revision: number): LiveRollout {
    const live: LiveRollout = {
      state,
      revision,
      published: state,
      hostIds: new Set(state.hosts.map((h) => h.hostId)),
      selector: parseSelector(state.spec.selector),
      queue: [],
      acksQueued: 0,
      lastFed: new Map(),
      draining: null,
      held: false,
      timer: undefined,
      timerAtMs: null,
      conflicts: 0,
      finishing: false,
      finishTimer: undefined,
      watchers: new Set(),
      toldAtMs: -Infinity,
      tellTimer: undefined,
      releases: new Map(),
    };
    this.live.set(state.id, live);
    this.byApp.set(state.spec.app, live);
    for (const hostId of live.hostIds) {
      let set = this.byHost.get(hostId);
      if (!set) this.byHost.set(hostId, (set = new Set()));
      set.add(live);
    }
    return live;
  }

  private unregister(live: LiveRollout): void {
    const { id, spec } = live.state;
    this.disarm(live);
    if (this.live.get(id) === live) this.live.delete(id);
    if (this.byApp.get(spec.app) === live) this.byApp.delete(spec.app);
    for (const hostId of live.hostIds) {
      const set = this.byHost.get(hostId);
      set?.delete(live);
      if (set?.size === 0) this.byHost.delete(hostId);
    }
    live.watchers.clear();
  }

  private publish(live: LiveRollout): void {
    if (live.published === live.state) return;
    live.published = live.state;
    if (live.watchers.size === 0) return;
    const interval = Math.floor(live.state.hostCount * WATCH_INTERVAL_MS_PER_HOST);
    const wait = live.toldAtMs + interval - this.now();
    if (wait <= 0 || isFinished(live.published.status)) {
      if (live.tellTimer !== undefined) this.timers.clear(live.tellTimer);
      live.tellTimer = undefined;
      this.tell(live);
      return;
    }
    // Told when the timer fires, of the state published by then.
    if (live.tellTimer !== undefined) return;
    live.tellTimer = this.timers.set(() => {
      live.tellTimer = undefined;
      this.tell(live);
    }, wait);
  }

  /** Tells the watchers the published state. */
  private tell(live: LiveRollout): void {
    live.toldAtMs = this.now();
    for (const watcher of live.watchers) {
      try {
        watcher.change(live.published);
      } catch (err) {
        this.logger.error({ rolloutId: live.state.id, err: errorMessage(err) }, 'rollout watcher failed');
      }
    }
  }

  /** (Re)arms the rollout's one timer; a tick is fed when it fires. */
  private arm(live: LiveRollout, atMs: number | null): void {
    if (live.timerAtMs === atMs && (atMs === null || live.timer !== undefined)) return;
    this.disarmWake(live);
    if (atMs === null || this.phase === 'stopping' || this.phase === 'stopped') return;
    live.timerAtMs = atMs;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, atMs - this.now()));
    live.timer = this.timers.set(() => {
      live.timer = undefined;
      live.timerAtMs = null;
      this.enqueue(live, { kind: 'tick', nowMs: this.now() });
    }, delay);
  }

  /** Clears the wake-up and any pending retry of the finish bookkeeping. */
  /** Clears every timer of the rollout: its wake-up, its finish, and a watcher update held back. */
  private disarm(live: LiveRollout): void {
    if (live.finishTimer !== undefined) this.timers.clear(live.finishTimer);
    live.finishTimer = undefined;
    if (live.tellTimer !== undefined) this.timers.clear(live.tellTimer);
    live.tellTimer = undefined;
    this.disarmWake(live);
  }

  private disarmWake(live: LiveRollout): void {
    if (live.timer !== undefined) this.timers.clear(live.timer);
    live.timer = undefined;
    live.timerAtMs = null;
  }
}
