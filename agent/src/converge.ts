import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  IntegrityError,
  MANIFEST_FILE,
  ManifestError,
  errorMessage,
  formatDuration,
  parseManifest,
  verifyDescriptor,
  type AppAssignment,
  type Assignment,
  type Descriptor,
  type HookSpec,
  type InstallPhase,
  type Logger,
  type Manifest,
  type TrustedKey,
} from '@flotilla/shared';
import { checkStartable, releaseEnv, runCommand, type SupervisedRelease } from './process/index.js';
import { decideApp, installSteps, nextWakeMs, protectedVersions, type AppDecision } from './plan.js';
import { appEnvironment, type AppRunner } from './processes.js';
import { HookFailedError, isAbort, recordFailure, type InstallFailure } from './retry.js';
import type { StateKeeper } from './state.js';

/** Where one app's install stands, as heartbeats report it. */
export interface InstallProgress {
  readonly phase: InstallPhase;
  /** The version being (or last) installed. */
  readonly version: string | null;
  /** Why the install failed, or what went wrong after activation (a postStart hook); null when fine. */
  readonly error: string | null;
  readonly updatedAtMs: number;
}

/** The on-host release layout convergence needs (ReleaseStore provides it). */
export interface ReleaseLayout {
  releasesDir(app: string): string;
  releaseDir(app: string, version: string): string;
  logDir(app: string): string;
  hasRelease(app: string, version: string, sha256: string): Promise<boolean>;
  activate(app: string, version: string): Promise<unknown>;
  /** Removes an unpacked release that is not current (no-op when absent). */
  removeRelease(app: string, version: string): Promise<void>;
  prune(app: string, opts: { keep: number; protect: readonly string[] }): Promise<unknown>;
}

export interface ConvergerDeps {
  logger: Logger;
  /** Release signers' keys: a descriptor must verify against one of them. */
  releaseKeys: readonly TrustedKey[];
  keepReleases: number;
  /** Per-app environment overrides (they also reach the hooks). */
  appOverrides: Readonly<Record<string, { readonly env: Readonly<Record<string, string>> }>>;
  releases: ReleaseLayout;
  processes: AppRunner;
  state: StateKeeper;
  /** Fetches the artifact a verified descriptor names into the cache; resolves with its verified path. */
  download(descriptor: Descriptor, signal: AbortSignal): Promise<string>;
  /** Unpacks a verified tarball into releases/<version>; resolves with its manifest's text. */
  unpack(tarball: string, descriptor: Descriptor, signal: AbortSignal): Promise<{ manifestText: string }>;
  /** Any app's install progress changed. */
  onProgress(app: string): void;
  /** Refuses a release whose start command cannot run, before the old process stops. @default checkStartable */
  checkStartable?: (release: SupervisedRelease) => Promise<void>;
  now?: () => number;
}

const abortError = (): Error => Object.assign(new Error('install called off'), { name: 'AbortError' });

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError();
}

/** The last non-empty line of a command's output, trimmed for a status report. */
function lastLine(text: string): string {
  const line = text.trim().split('\n').pop()?.trim() ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/**
 * Brings the host to its assignment, one app after the other, one pass at a time. Only one pass
 * runs at once; a newer assignment arriving mid-pass is taken up as soon as the pass yields, and
 * calls off an install in flight (its download is aborted) when it wants something else for that
 * app. Until the `current` link switches, a failure or a cancellation leaves the running version
 * untouched.
 */
export class Converger {
  private readonly log: Logger;
  private readonly now: () => number;
  private target: Assignment | null = null;
  private dirty = false;
  private closed = false;
  private loop: Promise<void> | null = null;
  private pass: AbortController | null = null;
  private inFlight: { app: string; version: string } | null = null;
  private wakeTimer: NodeJS.Timeout | undefined;
  private readonly failures = new Map<string, InstallFailure>();
  private readonly progress = new Map<string, InstallProgress>();

  constructor(private readonly deps: ConvergerDeps) {
    this.log = deps.logger.child({ component: 'converge' });
    this.now = deps.now ?? Date.now;
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

  /**
   * Converges on `assignment`. `fresh` marks a newly accepted assignment: failed versions get
   * another chance. An assignment older than the one already targeted is ignored.
   */
  submit(assignment: Assignment, fresh: boolean): void {
    if (this.closed) return;
    if (this.target !== null && assignment.seq < this.target.seq) return;
    if (fresh) this.failures.clear();
    this.target = assignment;
    const busy = this.inFlight;
    if (busy !== null && assignment.apps[busy.app]?.version !== busy.version) {
      this.log.info({ app: busy.app, version: busy.version, seq: assignment.seq }, 'newer assignment calls off the install in flight');
      this.pass?.abort();
    }
    this.kick();
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
      let decisions: AppDecision[] = [];
      try {
        decisions = await this.runPass(this.target, controller.signal);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'convergence pass failed');
      } finally {
        this.pass = null;
      }
      const wake = nextWakeMs(decisions);
      if (wake !== null && !this.closed) {
        this.wakeTimer = setTimeout(() => this.kick(), Math.max(0, wake - this.now()));
        this.wakeTimer.unref();
      }
    }
  }

  private activeVersion(app: string): string | null {
    return this.deps.state.current.apps[app]?.activeVersion ?? null;
  }

  private async runPass(assignment: Assignment | null, signal: AbortSignal): Promise<AppDecision[]> {
    // Without an accepted assignment nothing is known to be unwanted: leave every app as it is.
    if (assignment === null) return [];
    const apps = new Set([
      ...Object.keys(assignment.apps),
      ...Object.keys(this.deps.state.current.apps),
      ...this.deps.processes.apps(),
    ]);
    const decisions: AppDecision[] = [];
    for (const app of [...apps].sort()) {
      // A newer assignment restarts the pass from the top, with what it wants.
      if (signal.aborted || this.target !== assignment || this.closed) break;
      const want = assignment.apps[app];
      const decision = decideApp({
        desiredVersion: want?.version ?? null,
        activeVersion: this.activeVersion(app),
        supervised: this.deps.processes.get(app) !== undefined,
        failure: this.failures.get(app),
        nowMs: this.now(),
      });
      decisions.push(decision);
      switch (decision.kind) {
        case 'keep': {
          const p = this.progress.get(app);
          if (want === undefined || !(p?.phase === 'done' && p.version === want.version)) this.setProgress(app, 'idle', null, null);
          break;
        }
        case 'start':
          await this.startActive(app);
          break;
        case 'install':
          await this.install(app, want as AppAssignment, signal);
          break;
        case 'wait':
        case 'failed': {
          const f = this.failures.get(app);
          if (f) this.setProgress(app, 'failed', f.version, f.message);
          break;
        }
        case 'stop':
          this.log.info({ app }, 'app no longer assigned; stopping it (its releases stay on disk)');
          await this.deps.processes.stop(app);
          await this.deps.state.updateApp(app, (a) => ({ ...a, process: null }));
          this.failures.delete(app);
          this.setProgress(app, 'idle', null, null);
          break;
      }
    }
    return decisions;
  }

  private setProgress(app: string, phase: InstallPhase, version: string | null, error: string | null): void {
    const prev = this.progress.get(app);
    if (prev && prev.phase === phase && prev.version === version && prev.error === error) return;
    this.progress.set(app, { phase, version, error, updatedAtMs: this.now() });
    this.deps.onProgress(app);
  }

  private fail(app: string, version: string, err: unknown, log: Logger): void {
    const message = errorMessage(err);
    const failure = recordFailure(this.failures.get(app), version, err, message, this.now());
    this.failures.set(app, failure);
    if (failure.kind === 'transient' && failure.retryAtMs !== null) {
      // Not a verdict on the release (the controller was away, a disk was full): report the
      // install as still under way, with the reason, so that a rollout's healthy deadline,
      // not a passing outage, decides whether this host failed.
      const phase = this.progressOf(app)?.phase ?? 'downloading';
      const retryIn = formatDuration(failure.retryAtMs - this.now());
      this.setProgress(app, phase === 'failed' || phase === 'done' || phase === 'idle' ? 'downloading' : phase, version, `retrying in ${retryIn}: ${message}`);
    } else {
      this.setProgress(app, 'failed', version, message);
    }
    log.warn(
      { err: message, code: (err as { code?: unknown }).code, kind: failure.kind, attempts: failure.attempts, retryAtMs: failure.retryAtMs },
      'install failed; the running version is left as it was',
    );
  }

  private async readManifest(app: string, version: string): Promise<Manifest> {
    const path = join(this.deps.releases.releaseDir(app, version), MANIFEST_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new ManifestError(`cannot read ${MANIFEST_FILE} of ${app}@${version}: ${errorMessage(err)}`, { cause: err });
    }
    return parseManifest(text, { app, version });
  }

  private release(app: string, version: string, manifest: Manifest) {
    return {
      app,
      version,
      releaseDir: this.deps.releases.releaseDir(app, version),
      manifest,
      logDir: this.deps.releases.logDir(app),
    };
  }

  /** The active version is on disk but nothing runs it (the agent restarted and it had gone). */
  private async startActive(app: string): Promise<void> {
    const version = this.activeVersion(app) as string;
    const log = this.log.child({ app, version });
    try {
      const manifest = await this.readManifest(app, version);
      log.info('starting the active release');
      await this.deps.processes.launch(this.release(app, version, manifest));
      await this.deps.state.updateApp(app, (a) => ({ ...a, process: this.deps.processes.identity(app) }));
      this.setProgress(app, 'idle', null, null);
    } catch (err) {
      this.fail(app, version, err, log);
    }
  }

  /** Downloads, and downloads once more from scratch when the bytes do not match. */
  private async fetch(descriptor: Descriptor, signal: AbortSignal, log: Logger): Promise<string> {
    try {
      return await this.deps.download(descriptor, signal);
    } catch (err) {
      if (!(err instanceof IntegrityError) || signal.aborted) throw err;
      // A resumed download may have been spoiled by its first half; a second full download tells
      // a bad transfer from bad bytes at the source.
      log.warn({ err: err.message }, 'downloaded artifact does not match its descriptor; downloading it again in full');
      return await this.deps.download(descriptor, signal);
    }
  }

  private async runHook(
    name: 'preActivate' | 'postStart',
    hook: HookSpec | undefined,
    release: ReturnType<Converger['release']>,
    signal: AbortSignal | undefined,
    log: Logger,
  ): Promise<void> {
    if (hook === undefined) return;
    const env = releaseEnv({ ...release, env: appEnvironment(release.manifest, this.deps.appOverrides[release.app]?.env) });
    log.info({ hook: name }, 'running hook');
    const r = await runCommand(hook.command, {
      cwd: release.releaseDir,
      env,
      timeoutMs: hook.timeout,
      logFile: join(release.logDir, `${release.app}.log`),
      ...(signal ? { signal } : {}),
    });
    if (r.ok) return;
    if (signal?.aborted) throw abortError();
    const how = r.timedOut
      ? `timed out after ${formatDuration(hook.timeout)}`
      : r.code !== null
        ? `exited with code ${r.code}`
        : r.signal !== null
          ? `was killed by ${r.signal}`
          : 'could not run';
    const tail = lastLine(r.outputTail);
    throw new HookFailedError(`${name} hook of ${release.app}@${release.version} ${how}${tail ? `: ${tail}` : ''}`, {
      details: { hook: name, code: r.code, signal: r.signal, timedOut: r.timedOut },
    });
  }

  /**
   * The named steps (see INSTALL_STEPS): verify-descriptor → download → unpack (both skipped
   * when the release is on disk) → read-manifest → pre-activate → stop-old → switch-current →
   * start-new → post-start → persist → prune.
   */
  private async install(app: string, want: AppAssignment, signal: AbortSignal): Promise<void> {
    const version = want.version;
    const log = this.log.child({ app, version });
    const previous = this.activeVersion(app);
    let stoppedOld = false;
    let switched = false;
    this.inFlight = { app, version };
    try {
      // verify-descriptor: the release key vouches for these bytes being this app at this version.
      this.setProgress(app, 'verifying', version, null);
      const descriptor = verifyDescriptor(want.release, this.deps.releaseKeys, { app, version });

      const onDisk = await this.deps.releases.hasRelease(app, version, descriptor.sha256);
      const steps = new Set(installSteps(onDisk));
      if (onDisk) log.info({ sha256: descriptor.sha256 }, 'release already on disk; activating it without a download');
      let tarball = '';
      if (steps.has('download')) {
        this.setProgress(app, 'downloading', version, null);
        log.info({ sha256: descriptor.sha256, size: descriptor.size }, 'downloading release');
        tarball = await this.fetch(descriptor, signal, log);
        throwIfAborted(signal);
      }
      if (steps.has('unpack')) {
        // A directory for this version without a matching marker was not made from these bytes
        // (or not finished); it makes way for the verified release.
        this.setProgress(app, 'unpacking', version, null);
        await this.deps.releases.removeRelease(app, version);
        await this.deps.unpack(tarball, descriptor, signal);
      }
      // read-manifest
      const manifest = await this.readManifest(app, version);
      throwIfAborted(signal);
      const release = this.release(app, version, manifest);
      await (this.deps.checkStartable ?? checkStartable)({
        ...release,
        env: appEnvironment(manifest, this.deps.appOverrides[app]?.env),
      });

      // pre-activate: the last step a newer assignment can call off.
      this.setProgress(app, 'activating', version, null);
      await this.runHook('preActivate', manifest.hooks.preActivate, release, signal, log);
      throwIfAborted(signal);

      // stop-old, switch-current, start-new: run to the end once begun.
      this.inFlight = null;
      await this.deps.processes.stop(app);
      stoppedOld = true;
      await this.deps.releases.activate(app, version);
      switched = true;
      await this.deps.state.updateApp(app, (a) => ({
        activeVersion: version,
        previousVersion: previous !== null && previous !== version ? previous : a.previousVersion,
        process: null,
      }));
      await this.deps.processes.launch(release);
      await this.deps.state.updateApp(app, (a) => ({ ...a, process: this.deps.processes.identity(app) }));
      log.info({ previous }, 'release activated');

      // post-start: a failure is reported, the new version keeps running.
      let postStartError: string | null = null;
      try {
        await this.runHook('postStart', manifest.hooks.postStart, release, undefined, log);
      } catch (err) {
        postStartError = errorMessage(err);
        log.warn({ err: postStartError }, 'postStart hook failed; the app keeps running');
      }
      this.failures.delete(app);
      this.setProgress(app, 'done', version, postStartError);

      // prune
      const keep = protectedVersions(version, this.deps.state.current.apps[app]?.previousVersion, want.stableVersion);
      try {
        await this.deps.releases.prune(app, { keep: this.deps.keepReleases, protect: keep });
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'pruning old releases failed');
      }
    } catch (err) {
      if (!switched && stoppedOld && previous !== null) await this.restartPrevious(app, previous, log);
      if (!switched && isAbort(err, signal)) {
        log.info('install called off');
        this.setProgress(app, 'idle', null, null);
        return;
      }
      this.fail(app, version, err, log);
    } finally {
      this.inFlight = null;
    }
  }

  /** The link switch failed after the old process was stopped: bring the old one back. */
  private async restartPrevious(app: string, previous: string, log: Logger): Promise<void> {
    try {
      const manifest = await this.readManifest(app, previous);
      await this.deps.processes.launch(this.release(app, previous, manifest));
      await this.deps.state.updateApp(app, (a) => ({ ...a, process: this.deps.processes.identity(app) }));
      log.warn({ previous }, 'activation failed after the old process stopped; restarted the old version');
    } catch (err) {
      log.error({ previous, err: errorMessage(err) }, 'could not restart the old version');
    }
  }
}
