import {
  ConflictError,
  NotFoundError,
  ValidationError,
  assertAppName,
  matchesSelector,
  parseSelector,
  type Logger,
} from '@flotilla/shared';
import type { AppHistory, AppLedger } from '../apps/index.js';
import { summarise, type RolloutSummaryRecord } from '../apps/records.js';
import { KeyedMutex } from '../concurrency.js';
import {
  decide,
  formatPlan,
  isFinished,
  makeRolloutSpec,
  planSteps,
  startRollout,
  type Decision,
  type PlanHost,
  type RolloutEvent,
  type RolloutSpecInput,
  type RolloutState,
} from '../engine/index.js';
import { CONFLICT_KIND } from '../errors.js';
import type { HostEvent } from '../hosts.js';
import { settleFinished, type FinishDeps } from './finish.js';
import { feedDownHosts, HostRouting } from './host-routing.js';
import { LiveRollout, type LiveRolloutDeps } from './live-rollout.js';
import { OPERATOR_COMMANDS, checkActor, type OperatorCommand } from './operator.js';
import { appOfRolloutId, rolloutId } from './records.js';
import type { RolloutStore } from './store.js';
import { StoredWatches } from './stored-watches.js';
import {
  realTimers,
  type FailedStepReverts,
  type LiveAlarmResult,
  type RegistryPhase,
  type RolloutAssigner,
  type RolloutHostSource,
  type RolloutTimers,
  type RolloutWatcher,
  type TransitionStats,
} from './types.js';

/** What the rollouts ask of the app ledger. */
export type RolloutLedger = Pick<
  AppLedger,
  'requireArtifact' | 'refuseBad' | 'stableVersion' | 'makeStable' | 'recordSummary' | 'nextRolloutSeq' | 'history' | 'histories' | 'describe'
>;

export interface RolloutManagerOptions {
  store: RolloutStore;
  /** The app ledger: artifacts, stable and bad versions, history. */
  ledger: RolloutLedger;
  hosts: RolloutHostSource;
  assignments: RolloutAssigner;
  logger: Logger;
  /** @default Date.now */
  now?: () => number;
  /** @default Node's setTimeout/clearTimeout (unref'd) */
  timers?: RolloutTimers;
  /** Told about every transition that changed a rollout (metrics, benchmarks). */
  onTransition?: (stats: TransitionStats) => void;
  /**
   * The revert path a failed step's revert goes through (reverts/failed-step.ts).
   * @default none: a rollout reverts a failed step's hosts itself, without a revert record
   */
  reverts?: FailedStepReverts;
}

/**
 * The rollouts this controller drives, and the operator's API over them: start, get, list,
 * history, commands, watches, and the calls of the revert path (`alarmLive`, `activeRollout`,
 * `exclusive`). Each rollout runs its own event loop (live-rollout.ts); this registry routes host
 * events to the rollouts whose hosts they concern, keeps the one-rollout-per-app claim, and
 * settles at load what a controller that died left unfinished.
 */
export class RolloutManager {
  private readonly live = new Map<string, LiveRollout>();
  private readonly byApp = new Map<string, LiveRollout>();
  /** Which rollouts each host's events go to. */
  private readonly hosts = new HostRouting();
  private readonly starts = new KeyedMutex();
  /** Watches of rollouts this controller does not drive. */
  private readonly storedWatches: StoredWatches;
  private readonly now: () => number;
  private readonly timers: RolloutTimers;
  private readonly logger: Logger;
  private readonly store: RolloutStore;
  private readonly finishDeps: FinishDeps;
  private readonly liveDeps: LiveRolloutDeps;
  private unsubscribe: (() => void) | undefined;
  private phase: RegistryPhase = 'loaded';

  private constructor(private readonly opts: RolloutManagerOptions) {
    this.now = opts.now ?? Date.now;
    this.timers = opts.timers ?? realTimers;
    this.logger = opts.logger;
    this.store = opts.store;
    this.storedWatches = new StoredWatches({ store: opts.store, timers: this.timers, logger: opts.logger });
    this.finishDeps = { ledger: opts.ledger, claims: opts.store, now: this.now };
    this.liveDeps = {
      store: opts.store,
      assignments: opts.assignments,
      releases: opts.ledger,
      finish: this.finishDeps,
      timers: this.timers,
      now: this.now,
      logger: opts.logger,
      phase: () => this.phase,
      ...(opts.onTransition ? { onTransition: opts.onTransition } : {}),
      ...(opts.reverts ? { reverts: opts.reverts } : {}),
      finished: (live) => this.unregister(live),
    };
  }

  /**
   * Loads the rollouts that were active when the controller last stopped. Claims left by a
   * rollout that finished (or was never written) are settled here: the stable version, the
   * history and the claim are brought up to date.
   */
  static async load(opts: RolloutManagerOptions): Promise<RolloutManager> {
    const manager = RolloutManager.dormant(opts);
    await manager.resume();
    return manager;
  }

  /**
   * A manager that drives nothing until `resume()`: a follower controller answers reads from
   * the store, and resumes the rollouts when it becomes the leader.
   */
  static dormant(opts: RolloutManagerOptions): RolloutManager {
    return new RolloutManager(opts);
  }

  /** Loads the active rollouts (see load); called once, before listen(). */
  async resume(): Promise<void> {
    const manager = this;
    for (const claim of await manager.store.claims()) {
      const id = claim.rolloutId as string;
      const entry = await manager.store.read(id);
      if (entry === null) {
        manager.logger.warn({ app: claim.app, rolloutId: id }, 'claim names a rollout that was never written; freeing it');
        await manager.store.free(claim.app, id, manager.now());
        continue;
      }
      if (isFinished(entry.value.status)) {
        await settleFinished(manager.finishDeps, entry.value);
        continue;
      }
      const live = manager.register(entry.value, entry.revision);
      live.log.info({ app: claim.app, status: entry.value.status, step: entry.value.currentStep }, 'resuming rollout');
    }
  }

  /** Starts listening to hosts and resumes every loaded rollout with a tick. */
  listen(): void {
    if (this.phase !== 'loaded') return;
    this.phase = 'running';
    this.unsubscribe = this.opts.hosts.subscribe((event) => this.onHostEvent(event));
    for (const live of this.live.values()) {
      // First, so that the tick and the hosts' reports wait for a failed step's revert record.
      void live.resumeRevert();
      feedDownHosts(live, this.opts.hosts, this.now());
      live.enqueue({ kind: 'tick', nowMs: this.now() });
    }
  }

  /** Stops taking events and timers; waits (at most `graceMs`) for transitions in flight. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.phase === 'stopped' || this.phase === 'stopping') return;
    this.phase = 'stopping';
    this.unsubscribe?.();
    for (const live of this.live.values()) live.disarm();
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

  /**
   * Stops driving every rollout and forgets them (a leader that lost its lease): the state stays
   * in the store, and `resume()` then `listen()` take them up again, here or on another leader.
   */
  async standDown(graceMs = 5_000): Promise<void> {
    this.closeWatches();
    await this.stop(graceMs);
    for (const live of [...this.live.values()]) this.unregister(live);
    this.phase = 'loaded';
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
    const ledger = this.opts.ledger;
    await ledger.requireArtifact(app, version);
    await ledger.refuseBad(app, version, 'rollout', opts.force);
    // Not even with force: hosts refuse a revoked version whatever signs its assignment.
    this.opts.assignments.refuseRevoked?.(app, version);
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
      // Again under the app's lock: an alarm may have marked the version bad meanwhile, and
      // artifact retention (which deletes under this lock) may have removed the version.
      await ledger.requireArtifact(app, version);
      await ledger.refuseBad(app, version, 'rollout', opts.force);
      const running = this.byApp.get(app);
      if (running && !isFinished(running.state.status)) {
        throw new ConflictError(
          `rollout ${running.state.id} of ${app} is still ${running.state.status} (${app}@${running.state.spec.version}); ` +
            `one rollout at a time per app: wait for it, or abort it (flotilla rollout abort ${running.state.id})`,
          { details: { kind: CONFLICT_KIND.state, rolloutId: running.state.id } },
        );
      }
      const stableVersion = await ledger.stableVersion(app);
            const nowMs = this.now();
      const id = rolloutId(app, await ledger.nextRolloutSeq(app), nowMs);
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
      await ledger.recordSummary(decision.state).catch((err: unknown) => this.logger.warn({ rolloutId: id, err }, 'cannot record rollout in history yet'));
      const live = this.register(decision.state, revision);
      await live.begin(decision.actions);
      feedDownHosts(live, this.opts.hosts, this.now());
      live.kick();
      live.log.info({ app, version, hosts: hosts.length, steps: decision.state.steps.length, stableVersion, by: spec.createdBy }, 'rollout started');
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
    const latest = (await this.opts.ledger.history(app)).rollouts.at(-1);
    if (!latest) throw new NotFoundError(`app "${app}" has had no rollout yet`);
    const entry = await this.store.read(latest.id);
    if (!entry) throw new NotFoundError(`the latest rollout of ${app}, ${latest.id}, has no stored state`);
    return entry.value;
  }

  /** Rollouts, newest first, optionally of one app. */
  async list(app?: string): Promise<RolloutSummaryRecord[]> {
    const ledger = this.opts.ledger;
    const histories = app ? [await ledger.history(assertAppName(app))] : await ledger.histories();
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
    return this.opts.ledger.describe(app, () => this.list(app));
  }

  /**
   * pause | resume | promote | abort. Resolves with the rollout once the command's effects are
   * carried out; a command the rollout's state does not allow is a ConflictError with the
   * engine's reason.
   */
  async command(id: string, command: string, opts: { noRevert?: boolean; actor?: string } = {}): Promise<RolloutState> {
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
      decision = (await live.decideNow(event)).decision;
    } else {
      const state = live?.state ?? (await this.store.read(id))?.value;
      if (!state) throw new NotFoundError(`no rollout ${id}`);
      // Finished: the engine says why the command cannot apply.
      decision = decide(state, event);
    }
    const rejected = decision.actions.find((a) => a.kind === 'rejected');
    if (rejected) throw new ConflictError(rejected.message, { details: { kind: CONFLICT_KIND.state, rolloutId: id } });
    if (!live) throw new ConflictError(`rollout ${id} is not driven by this controller`, { details: { kind: CONFLICT_KIND.state } });
    live.log.info({ command, noRevert: opts.noRevert === true, actor: event.actor }, 'rollout command');
    await live.settled();
    return live.published;
  }

  /**
   * An alarm for an app: the app's active rollout stops and reverts (unless it runs without
   * auto-revert). Resolves with the rollout after the alarm, or null when no rollout of the app
   * is active.
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
      await live.settled();
      return null;
    }
    const { prior } = await live.decideNow({ kind: 'alarm', source, reason, nowMs: this.now() });
    await live.settled();
    if (isFinished(prior.status)) return null;
    live.log.warn({ app, source, reason, was: prior.status, now: live.published.status }, 'alarm for an active rollout');
    return { prior, state: live.published };
  }

  /** A rollout's state as stored (null: never written), whether this controller drives it or not. */
  async stored(id: string): Promise<RolloutState | null> {
    return (await this.store.read(id))?.value ?? null;
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

  /**
   * The rollout now, and a watcher told of every change until it finishes. The watcher gets
   * each state once its actions are carried out; call `unsubscribe` when done.
   */
  async watch(ref: { id?: string; app?: string }, watcher: RolloutWatcher): Promise<{ state: RolloutState; unsubscribe: () => void }> {
    const state = await this.get(ref);
    const live = this.live.get(state.id);
    if (isFinished(state.status)) return { state, unsubscribe: () => {} };
    if (!live) return { state, unsubscribe: this.storedWatches.follow(state, watcher) };
    const unsubscribe = live.watchers.add(watcher);
    return { state: live.published, unsubscribe };
  }

  /** Tells every watcher the controller is stopping (before the gRPC server waits for its calls). */
  closeWatches(): void {
    for (const live of this.live.values()) live.watchers.close();
    this.storedWatches.closeAll();
  }

  /** The ids of the rollouts this controller drives. */
  activeIds(): string[] {
    return [...this.live.keys()];
  }

  // ---- routing host events --------------------------------------------------------------------

  private onHostEvent(event: HostEvent): void {
    if (this.phase !== 'running') return;
    this.hosts.route(event, this.now());
  }

  private register(state: RolloutState, revision: number): LiveRollout {
    const live = new LiveRollout(state, revision, this.liveDeps);
    this.live.set(state.id, live);
    this.byApp.set(state.spec.app, live);
    this.hosts.add(live);
    return live;
  }

  private unregister(live: LiveRollout): void {
    const { id, spec } = live.state;
    live.disarm();
    if (this.live.get(id) === live) this.live.delete(id);
    if (this.byApp.get(spec.app) === live) this.byApp.delete(spec.app);
    this.hosts.remove(live);
    live.watchers.clear();
  }
}
