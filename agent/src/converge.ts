import {
  comparePositions,
  errorMessage,
  positionOf,
  type AppAssignment,
  type Assignment,
  type InstallPhase,
  type Logger,
} from '@flotilla/shared';
import {
  INSTALL_STEPS,
  InstallContext,
  abortError,
  readReleaseManifest,
  releaseInfo,
  retireBeside,
  shiftTo,
  wantsRetire,
  type InstallDeps,
  type InstallStep,
} from './install-steps.js';
import { decideApp, nextRetryMs } from './plan.js';
import { describeFailure, isAbort, recordFailure, retryNow, type InstallFailure } from './retry.js';
import type { AppLocalState, StateKeeper } from './state.js';
import { runSteps } from './steps.js';
import type { BesideRunner } from './processes.js';
import { otherSlot, splitWeights } from './traffic/index.js';

export type { ReleaseLayout } from './install-steps.js';

/** Where one app's install stands, as heartbeats report it. */
export interface InstallProgress {
  readonly phase: InstallPhase;
  /** The version being (or last) installed. */
  readonly version: string | null;
  /** Why the install failed, or what went wrong after activation (a postStart hook); null when fine. */
  readonly error: string | null;
  readonly updatedAtMs: number;
}

export interface ConvergerDeps extends InstallDeps {
  logger: Logger;
  state: StateKeeper;
  /** Any app's install progress changed. */
  onProgress(app: string): void;
  /** The install steps, in order. @default INSTALL_STEPS */
  steps?: readonly InstallStep[];
  /** Called after each install step ran, before its progress is saved (fault injection). */
  afterStep?(app: string, step: string): void;
  now?: () => number;
}

/**
 * Brings the host to its assignment, one app after the other, one pass at a time. Only one pass
 * runs at once; a newer assignment arriving mid-pass is taken up as soon as the pass yields, and
 * calls off an install in flight (its download is aborted) when it wants something else for that
 * app. Until the old process is stopped, a failure or a cancellation leaves the running version
 * untouched. Every failed install is looked at again: a transient one when its back-off is over
 * (a timer is always armed for it), any one when a new assignment arrives.
 */
export class Converger {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly steps: readonly InstallStep[];
  private target: Assignment | null = null;
  private dirty = false;
  private closed = false;
  private loop: Promise<void> | null = null;
  private pass: AbortController | null = null;
  private inFlight: { app: string; version: string } | null = null;
  private wakeTimer: NodeJS.Timeout | undefined;
  private readonly failures = new Map<string, InstallFailure>();
  private readonly progress = new Map<string, InstallProgress>();
  /** Apps whose saved weights this agent process has put to the balancer (an earlier one may have died mid-change). */
  private readonly trafficApplied = new Set<string>();

  constructor(private readonly deps: ConvergerDeps) {
    this.log = deps.logger.child({ component: 'converge' });
    this.now = deps.now ?? Date.now;
    this.steps = deps.steps ?? INSTALL_STEPS;
  }

  /** The assignment being converged on. */
  get assignment(): Assignment | null {
    return this.target;
  }

  progressOf(app: string): InstallProgress | undefined {
    return this.progress.get(app);
  }

  /** Apps convergence has something to say about. */
  apps(): string[] {
    return [...this.progress.keys()];
  }

  /** When a failed install will be tried again (null: no retry is scheduled). */
  get nextRetryAtMs(): number | null {
    return nextRetryMs(this.failures, (app) => this.target?.apps[app]?.version ?? null);
  }

  /**
   * Converges on `assignment`. `fresh` marks a newly accepted assignment: failed versions get
   * another chance. An assignment older than the one already targeted is ignored.
   */
  submit(assignment: Assignment, fresh: boolean): void {
    if (this.closed) return;
    if (this.target !== null && comparePositions(positionOf(assignment), positionOf(this.target)) < 0) return;
    if (fresh) this.failures.clear();
    this.target = assignment;
    const busy = this.inFlight;
    if (busy !== null && assignment.apps[busy.app]?.version !== busy.version) {
      this.log.info({ app: busy.app, version: busy.version, seq: assignment.seq }, 'newer assignment calls off the install in flight');
      this.pass?.abort();
    }
    this.kick();
  }

  /**
   * The assignment already accepted was asserted again (re-sent by the controller, or a sync's
   * answer): an install that failed for a transient reason is retried now rather than at the end
   * of its back-off. A permanent failure waits for a new assignment: the same bytes fail the
   * same way.
   */
  reassert(): void {
    if (this.closed) return;
    const now = this.now();
    let due = false;
    for (const [app, f] of this.failures) {
      const next = retryNow(f, now);
      if (next !== f) {
        this.failures.set(app, next);
        due = true;
      }
    }
    if (due) this.kick();
  }

  /** Runs another pass (after the current one, if any). */
  kick(): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.loop === null) {
      this.loop = this.runLoop().finally(() => {
        this.loop = null;
      });
    }
  }

  /** Calls off the work in flight and waits for the pass to end. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.wakeTimer);
    this.pass?.abort();
    await this.loop;
  }

  /** Resolves once no pass is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.loop !== null) await this.loop;
  }

  private async runLoop(): Promise<void> {
    while (this.dirty && !this.closed) {
      this.dirty = false;
      clearTimeout(this.wakeTimer);
      const controller = new AbortController();
      this.pass = controller;
      try {
        await this.runPass(this.target, controller.signal);
      } catch (err) {
        // Whatever went wrong, the loop goes on: the retry timer below is armed regardless.
        this.log.error({ err }, 'convergence pass failed');
      } finally {
        this.pass = null;
      }
      this.armRetry();
    }
  }

  /** A timer for the earliest failed install whose back-off ends, whatever the pass decided. */
  private armRetry(): void {
    const wake = this.nextRetryAtMs;
    if (wake === null || this.closed) return;
    this.wakeTimer = setTimeout(() => this.kick(), Math.max(0, wake - this.now()));
    this.wakeTimer.unref();
  }

  private entry(app: string): AppLocalState | undefined {
    return this.deps.state.current.apps[app];
  }

  private activeVersion(app: string): string | null {
    return this.entry(app)?.activeVersion ?? null;
  }

  private async runPass(assignment: Assignment | null, signal: AbortSignal): Promise<void> {
    // Without an accepted assignment nothing is known to be unwanted: leave every app as it is.
    if (assignment === null) return;
    // An expired assignment says nothing any more (it may be withheld news): keep what runs,
    // install nothing, until a fresh one comes.
    if (assignment.expiresAtMs === undefined || assignment.expiresAtMs <= this.now()) {
      this.log.warn({ seq: assignment.seq, expiresAtMs: assignment.expiresAtMs }, 'assignment expired; installing nothing until a fresh one comes');
      return;
    }
    const apps = new Set([
      ...Object.keys(assignment.apps),
      ...Object.keys(this.deps.state.current.apps),
      ...this.deps.processes.apps(),
    ]);
    for (const app of [...apps].sort()) {
      // A newer assignment restarts the pass from the top, with what it wants.
      if (signal.aborted || this.target !== assignment || this.closed) break;
      const want = assignment.apps[app];
      await this.dropStaleRecord(app, want?.version ?? null);
      const record = this.entry(app)?.install;
      const decision = decideApp({
        desiredVersion: want?.version ?? null,
        activeVersion: this.activeVersion(app),
        supervised: this.deps.processes.get(app) !== undefined,
        failure: this.failures.get(app),
        unfinished: record !== undefined && record.version === want?.version,
        nowMs: this.now(),
      });
      switch (decision.kind) {
        case 'keep': {
          const traffic = this.entry(app)?.traffic;
          // A shift under way, or a slot whose process went away while it still had traffic.
          if (want !== undefined && traffic !== undefined && (traffic.beside !== null || traffic.weight !== 100)) {
            await this.adjustTraffic(app, want);
            break;
          }
          const p = this.progress.get(app);
          if (want === undefined || !(p?.phase === 'done' && p.version === want.version)) this.setProgress(app, 'idle', null, null);
          break;
        }
        case 'start':
          await this.startActive(app);
          break;
        case 'install':
          if (await this.revertBeside(app, want as AppAssignment)) break;
          await this.install(app, want as AppAssignment, signal);
          break;
        case 'wait':
        case 'failed': {
          const f = this.failures.get(app);
          if (f) this.reportFailure(app, f);
          break;
        }
        case 'stop':
          this.log.info({ app }, 'app no longer assigned; stopping it (its releases stay on disk)');
          await this.deps.processes.stop(app);
          await this.besideRunner()?.stopBeside(app);
          await this.deps.state.updateApp(app, (a) => ({ ...a, process: null, ...(a.traffic ? { traffic: { ...a.traffic, beside: null } } : {}) }));
          this.failures.delete(app);
          this.setProgress(app, 'idle', null, null);
          break;
      }
    }
  }

  /**
   * An install record of a version no longer wanted is forgotten: should that version come back
   * later, its hooks run again rather than being skipped on an old record.
   */
  private async dropStaleRecord(app: string, wanted: string | null): Promise<void> {
    const record = this.entry(app)?.install;
    if (record === undefined || record.version === wanted) return;
    try {
      await this.deps.state.updateApp(app, withoutRecord);
    } catch (err) {
      this.log.warn({ err, app }, 'cannot forget an old install record');
    }
  }

  private setProgress(app: string, phase: InstallPhase, version: string | null, error: string | null): void {
    const prev = this.progress.get(app);
    if (prev && prev.phase === phase && prev.version === version && prev.error === error) return;
    this.progress.set(app, { phase, version, error, updatedAtMs: this.now() });
    this.deps.onProgress(app);
  }

  private reportFailure(app: string, failure: InstallFailure): void {
    const text = describeFailure(failure, this.now());
    if (failure.kind === 'transient' && failure.retryAtMs !== null) {
      // Not a verdict on the release (the controller was away, a disk was full): report the
      // install as still under way, with the reason, so that a rollout's healthy deadline,
      // not a passing outage, decides whether this host failed.
      const phase = this.progressOf(app)?.phase ?? 'downloading';
      this.setProgress(app, phase === 'failed' || phase === 'done' || phase === 'idle' ? 'downloading' : phase, failure.version, text);
    } else {
      this.setProgress(app, 'failed', failure.version, text);
    }
  }

  private fail(app: string, version: string, err: unknown, log: Logger): void {
    const failure = recordFailure(this.failures.get(app), version, err, errorMessage(err), this.now());
    this.failures.set(app, failure);
    this.reportFailure(app, failure);
    log.warn(
      { err, kind: failure.kind, attempts: failure.attempts, retryAtMs: failure.retryAtMs },
      'install failed; the running version is left as it was',
    );
  }

  private besideRunner(): BesideRunner | null {
    const p = this.deps.processes as Partial<BesideRunner>;
    return typeof p.keepBeside === 'function' ? (this.deps.processes as BesideRunner) : null;
  }

  /**
   * The assigned version runs, with the one before it beside: moves the traffic to the assigned
   * weight, and retires the one beside when the assignment says so.
   */
  private async adjustTraffic(app: string, want: AppAssignment): Promise<void> {
    const runner = this.besideRunner();
    const shift = this.deps.traffic?.shift;
    if (runner === null || shift === undefined) return;
    const log = this.log.child({ app, version: want.version });
    try {
      const manifest = await readReleaseManifest(this.deps, app, want.version);
      const target = want.traffic?.weight ?? 100;
      if (this.entry(app)?.traffic?.weight !== target || !this.trafficApplied.has(app)) {
        log.info({ weight: target }, 'moving traffic');
        await shiftTo(this.deps, app, manifest, shift.bind(this.deps.traffic), target);
        this.trafficApplied.add(app);
      }
      if (wantsRetire(want)) await retireBeside(this.deps, app, runner, this.deps.sleep ?? sleep);
      this.failures.delete(app);
      this.setProgress(app, 'done', want.version, null);
    } catch (err) {
      this.fail(app, want.version, err, log);
    }
  }

  /**
   * A revert to the release still running beside the active one: all traffic back to it in one
   * balancer change, then it is the active release again, and the one it replaced stops when the
   * assignment retires it. Nothing restarts. False when that release is not running beside.
   */
  private async revertBeside(app: string, want: AppAssignment): Promise<boolean> {
    const runner = this.besideRunner();
    const shift = this.deps.traffic?.shift;
    const entry = this.entry(app);
    const saved = entry?.traffic;
    if (runner === null || shift === undefined || saved?.beside?.version !== want.version || runner.beside(app)?.version !== want.version) {
      return false;
    }
    const log = this.log.child({ app, version: want.version });
    try {
      const manifest = await readReleaseManifest(this.deps, app, want.version);
      if (manifest.traffic === undefined) return false;
      const back = otherSlot(saved.activeSlot);
      log.info({ from: entry?.activeVersion }, 'reverting to the release running beside: traffic back to it, no restart');
      this.setProgress(app, 'activating', want.version, null);
      await shift.call(
        this.deps.traffic,
        app,
        splitWeights(manifest.traffic, saved.activeSlot, saved.weight),
        splitWeights(manifest.traffic, back, 100),
      );
      const replaced = entry?.activeVersion ?? null;
      runner.swap(app);
      await this.deps.releases.activate(app, want.version);
      await this.deps.state.updateApp(app, (a) => ({
        ...a,
        activeVersion: want.version,
        previousVersion: replaced,
        process: runner.identity(app),
        traffic: {
          activeSlot: back,
          weight: 100,
          beside: replaced !== null && runner.beside(app) !== undefined ? { version: replaced, process: runner.besideIdentity(app) } : null,
        },
      }));
      if (wantsRetire(want)) await retireBeside(this.deps, app, runner, this.deps.sleep ?? sleep);
      this.failures.delete(app);
      this.setProgress(app, 'done', want.version, null);
    } catch (err) {
      this.fail(app, want.version, err, log);
    }
    return true;
  }

  /** The active version is on disk but nothing runs it (the agent restarted and it had gone). */
  private async startActive(app: string): Promise<void> {
    const version = this.activeVersion(app) as string;
    const log = this.log.child({ app, version });
    try {
      const manifest = await readReleaseManifest(this.deps, app, version);
      log.info('starting the active release');
      const slot = this.entry(app)?.traffic?.activeSlot;
      await this.deps.processes.launch(releaseInfo(this.deps.releases, app, version, manifest), ...(slot !== undefined ? [slot] : []));
      await this.deps.state.updateApp(app, (a) => ({ ...a, process: this.deps.processes.identity(app) }));
      this.setProgress(app, 'idle', null, null);
    } catch (err) {
      this.fail(app, version, err, log);
    }
  }

  /**
   * Runs the install steps (INSTALL_STEPS) for `want`, resuming after the steps an earlier
   * attempt (of this agent process or of one before a crash) recorded as done.
   */
  private async install(app: string, want: AppAssignment, signal: AbortSignal): Promise<void> {
    const version = want.version;
    const log = this.log.child({ app, version });
    const ctx = new InstallContext(app, want, this.activeVersion(app), signal, log, this.deps);
    let pastNoReturn = false;
    this.inFlight = { app, version };
    try {
      const done = await this.recordedSteps(ctx);
      if (done.length > 0) log.info({ done }, 'resuming an unfinished install');
      await runSteps(this.steps, ctx, {
        log,
        done,
        record: (steps) =>
          this.deps.state.updateApp(app, (a) => ({ ...a, install: { version, sha256: ctx.descriptor().sha256, done: [...steps] } })),
        before: (step) => {
          if (step.runsToEnd) {
            pastNoReturn = true;
            this.inFlight = null;
          }
          if (!pastNoReturn && signal.aborted) throw abortError();
          if (step.phase !== undefined) this.setProgress(app, step.phase, version, null);
        },
        after: (step) => this.deps.afterStep?.(app, step.name),
      });
      this.failures.delete(app);
      this.setProgress(app, 'done', version, ctx.postStartError);
      await this.deps.state.updateApp(app, withoutRecord).catch((err: unknown) => {
        // The install is done; the record is dropped on a later pass (all its steps are done).
        log.warn({ err }, 'cannot clear the finished install record');
      });
    } catch (err) {
      if (!pastNoReturn && isAbort(err, signal)) {
        log.info('install called off');
        this.setProgress(app, 'idle', null, null);
        return;
      }
      this.fail(app, version, err, log);
    } finally {
      this.inFlight = null;
    }
  }

  /** The steps state.json says an earlier attempt at these very bytes finished. */
  private async recordedSteps(ctx: InstallContext): Promise<readonly string[]> {
    const record = this.entry(ctx.app)?.install;
    if (record === undefined || record.version !== ctx.version || record.sha256 !== ctx.descriptor().sha256) return [];
    // Whatever removed the release since (a prune, an operator) undid the download and unpack.
    if (record.done.includes('unpack') && !(await ctx.onDisk())) return [];
    return record.done;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function withoutRecord(a: AppLocalState): AppLocalState {
  if (a.install === undefined) return a;
  const { install: _dropped, ...rest } = a;
  return rest;
}
