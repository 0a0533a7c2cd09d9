import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { HealthState, Logger, ProcessState } from '@flotilla/shared';
import { commandArgv, missingDirectory, releaseEnv, spawnErrorMessage, userSpawnOptions } from './command.js';
import { HealthChecker } from './health.js';
import { PROCESS_MARK_VAR, groupAlive, identityOf, isSameProcessAlive, signalGroup, startedAtMsOf } from './proc.js';
import { decideRestart, resolveRestartPolicy, type RestartPolicy } from './restart-policy.js';
import type { ProcessExit, ProcessIdentity, ProcessSnapshot, SupervisedRelease } from './types.js';

export interface SupervisorDeps {
  /** The agent's logger; the supervisor logs through a child of it. */
  logger: Logger;
  /** Called on every change of state, health, pid, restarts or error, with the new snapshot. */
  onChange?: (snapshot: ProcessSnapshot) => void;
  /** Overrides of DEFAULT_RESTART_POLICY. */
  policy?: Partial<RestartPolicy>;
  /** Clock for timestamps and restart decisions. @default Date.now */
  now?: () => number;
  /** Without a health check, an app that stays up this long counts as healthy. @default 1000 */
  settleMs?: number;
  /** How often an adopted process (not our child, no exit event) is checked. @default 1000 */
  adoptPollMs?: number;
  /** How often a stopping process group is checked. @default 50 */
  stopPollMs?: number;
  /** After SIGKILL, how long stop() waits for the group before giving up on it. @default 5000 */
  killWaitMs?: number;
}

/** The process the supervisor currently owns. */
interface OwnedProcess {
  /** Bumped for every process, so late events of an earlier one are recognised and dropped. */
  gen: number;
  /** Also the process group id: every app runs in a group of its own. */
  pid: number;
  identity: ProcessIdentity | null;
  /** Null for an adopted process: it is not our child, so its exit is polled for. */
  child: ChildProcess | null;
  /** The group leader is gone (for a child: its exit was seen, so it is reaped). */
  exited: boolean;
}

const MAX_EXITS_KEPT = 64;

/** What /bin/sh means by these, for start commands given as a string. */
const SHELL_EXIT_HINTS: Readonly<Record<number, string>> = { 126: ' (not executable)', 127: ' (command not found)' };

/**
 * Runs one release of one app: starts it detached in its own process group (so it outlives an
 * agent restart), restarts it with back-off when it exits on its own, stops it with its manifest
 * signal and then SIGKILL, and runs its health check.
 *
 * States: 'stopped' → start() → 'starting' → (first health decision, or `settleMs` up without a
 * health check) → 'running'; an unexpected exit → 'backoff' (or 'crash-loop') → restart →
 * 'starting' …; stop() → 'stopping' → 'stopped'. 'crash-loop' sticks through restarts until a run
 * lasts the policy's `resetAfterMs`, so it is reported for as long as it is true, not only while
 * waiting. A start command that cannot be run at all → 'exited' (retrying cannot fix a release).
 * An unhealthy app is reported, not restarted.
 */
export class AppSupervisor {
  readonly #release: SupervisedRelease;
  readonly #log: Logger;
  readonly #onChange: ((s: ProcessSnapshot) => void) | undefined;
  readonly #policy: RestartPolicy;
  readonly #now: () => number;
  readonly #settleMs: number;
  readonly #adoptPollMs: number;
  readonly #stopPollMs: number;
  readonly #killWaitMs: number;
  readonly #cwd: string;
  readonly #env: Record<string, string>;
  readonly #logFile: string;

  #state: ProcessState = 'stopped';
  #proc: OwnedProcess | null = null;
  #gen = 0;
  #restarts = 0;
  #exits: number[] = [];
  #lastExit: ProcessExit | null = null;
  #lastStartMs = 0;
  #startedAtMs: number | null = null;
  #health: HealthState = 'unknown';
  #healthSinceMs: number;
  #error: string | null = null;
  #healthError: string | null = null;
  #crashLooping = false;
  /** False once stop() was called: nothing restarts after that. */
  #wanted = false;
  #detached = false;
  #spawning: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #restartTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #checker: HealthChecker | null = null;
  #lastEmitted = '';

  constructor(release: SupervisedRelease, deps: SupervisorDeps) {
    this.#release = release;
    this.#log = deps.logger.child({ component: 'supervisor', app: release.app, version: release.version });
    this.#onChange = deps.onChange;
    this.#policy = resolveRestartPolicy(deps.policy);
    this.#now = deps.now ?? Date.now;
    this.#settleMs = deps.settleMs ?? 1_000;
    this.#adoptPollMs = deps.adoptPollMs ?? 1_000;
    this.#stopPollMs = deps.stopPollMs ?? 50;
    this.#killWaitMs = deps.killWaitMs ?? 5_000;
    this.#cwd = resolve(release.releaseDir, release.manifest.start.cwd);
    this.#env = releaseEnv(release);
    this.#logFile = join(release.logDir, `${release.app}.log`);
    this.#healthSinceMs = this.#now();
  }

  /** The app's log file (stdout and stderr, appended). */
  get logFile(): string {
    return this.#logFile;
  }

  /**
   * Starts the app; resolves once it is spawned (or could not be: then the snapshot says
   * 'exited' with the reason). Does nothing while a process is already owned.
   */
  async start(): Promise<void> {
    if (this.#detached) return;
    if (this.#stopping !== null) await this.#stopping;
    if (this.#spawning !== null) return this.#spawning;
    if (this.#proc !== null) return;
    this.#wanted = true;
    this.#clearTimer('restart');
    await this.#spawnTracked();
  }

  /**
   * Takes over a process that an earlier agent process started, when it is still that very
   * process (pid and kernel start time). `carried.restarts` continues the earlier count.
   */
  adopt(id: ProcessIdentity, carried: { restarts?: number } = {}): boolean {
    if (this.#detached || this.#proc !== null || this.#spawning !== null) return false;
    if (!Number.isInteger(id.pid) || id.pid <= 1 || !isSameProcessAlive(id)) return false;
    const now = this.#now();
    const proc: OwnedProcess = { gen: ++this.#gen, pid: id.pid, identity: id, child: null, exited: false };
    this.#proc = proc;
    this.#wanted = true;
    this.#restarts = carried.restarts ?? this.#restarts;
    this.#startedAtMs = Math.min(now, startedAtMsOf(id.pid) ?? now);
    this.#lastStartMs = this.#startedAtMs;
    this.#state = 'running';
    this.#error = null;
    this.#setHealth('unknown', null);
    this.#log.info({ pid: id.pid, startedAtMs: this.#startedAtMs }, 'app adopted');
    this.#watch(proc);
    this.#emit();
    return true;
  }

  /**
   * Stops the app: the manifest's stop signal to its process group, SIGKILL to the group after
   * the stop timeout, resolved once the group is gone. Cancels a pending restart; idempotent.
   */
  async stop(): Promise<void> {
    this.#wanted = false;
    this.#clearTimer('restart');
    this.#clearTimer('stable');
    if (this.#stopping !== null) return this.#stopping;
    if (this.#spawning !== null) await this.#spawning;
    if (this.#stopping !== null) return this.#stopping;
    const proc = this.#proc;
    if (proc === null) {
      this.#unwatch();
      this.#crashLooping = false;
      this.#state = 'stopped';
      this.#error = null;
      this.#setHealth('unknown', null);
      this.#emit();
      return;
    }
    this.#stopping = this.#stopProcess(proc).finally(() => {
      this.#stopping = null;
    });
    return this.#stopping;
  }

  /** The agent is going away: stop every timer and check, leave the app running for the next agent. */
  detach(): void {
    this.#detached = true;
    this.#unwatch();
    this.#clearTimer('restart');
    this.#clearTimer('stable');
  }

  snapshot(): ProcessSnapshot {
    return {
      processState: this.#state,
      pid: this.#proc?.pid ?? null,
      restarts: this.#restarts,
      health: this.#health,
      healthSinceMs: this.#healthSinceMs,
      error: this.#error ?? this.#healthError,
      startedAtMs: this.#proc === null ? null : this.#startedAtMs,
      lastExit: this.#lastExit,
    };
  }

  /** What to persist so that the next agent process can adopt the app; null when none runs. */
  identity(): ProcessIdentity | null {
    const proc = this.#proc;
    return proc === null || proc.exited ? null : proc.identity;
  }

  #spawnTracked(): Promise<void> {
    const spawning = this.#spawn().finally(() => {
      if (this.#spawning === spawning) this.#spawning = null;
    });
    this.#spawning = spawning;
    return spawning;
  }

  async #spawn(): Promise<void> {
    const cmd = this.#release.manifest.start.command;
    const badCwd = await missingDirectory(this.#cwd);
    if (badCwd !== null) return this.#startFailed(badCwd);
    let logHandle: FileHandle;
    try {
      await mkdir(this.#release.logDir, { recursive: true });
      logHandle = await open(this.#logFile, 'a');
    } catch (err) {
      return this.#startFailed(`cannot open the app's log file ${this.#logFile}: ${(err as Error).message}`);
    }
    const gen = ++this.#gen;
    let child: ChildProcess;
    // An exit that comes before the process is installed (a start command that fails at once)
    // is kept here and handled right after installing it.
    let early: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let installed = false;
    try {
      if (!this.#wanted || this.#detached) return; // stopped while the log file was opening
      const { file, args } = commandArgv(cmd, this.#env);
      try {
        // Own session and process group, output straight to the file: nothing ties the app to
        // the agent, which may restart under it.
        child = spawn(file, args, {
          cwd: this.#cwd,
          env: this.#release.mark === undefined ? this.#env : { ...this.#env, [PROCESS_MARK_VAR]: this.#release.mark },
          detached: true,
          stdio: ['ignore', logHandle.fd, logHandle.fd],
          // As the app's own user: it must not read the agent's credentials, state or keys.
          ...userSpawnOptions(this.#release.user),
        });
      } catch (err) {
        return this.#startFailed(spawnErrorMessage(err as NodeJS.ErrnoException, cmd, 'start command'));
      }
      child.on('error', (err) => this.#log.debug({ err }, 'app process error'));
      child.once('exit', (code, signal) => {
        if (installed) this.#onExit(gen, code, signal);
        else early = { code, signal };
      });
      const spawnError = await new Promise<NodeJS.ErrnoException | null>((done) => {
        child.once('spawn', () => done(null));
        child.once('error', (err) => done(err));
      });
      if (spawnError !== null || child.pid === undefined) {
        return this.#startFailed(spawnErrorMessage(spawnError ?? new Error('no pid'), cmd, 'start command'));
      }
    } finally {
      // The child holds its own copy of the descriptor.
      void logHandle.close().catch(() => undefined);
    }
    child.unref();
    const now = this.#now();
    const proc: OwnedProcess = { gen, pid: child.pid, identity: identityOf(child.pid), child, exited: false };
    this.#proc = proc;
    installed = true;
    this.#startedAtMs = now;
    this.#lastStartMs = now;
    this.#state = this.#crashLooping ? 'crash-loop' : 'starting';
    if (!this.#crashLooping) this.#error = null;
    this.#setHealth('unknown', null);
    this.#log.info({ pid: child.pid, restarts: this.#restarts, cwd: this.#cwd }, 'app started');
    if (!this.#detached) this.#watch(proc);
    this.#emit();
    const exited = early as { code: number | null; signal: NodeJS.Signals | null } | null;
    if (exited !== null) this.#onExit(gen, exited.code, exited.signal);
  }

  #startFailed(message: string): void {
    this.#proc = null;
    this.#state = 'exited';
    this.#error = message;
    this.#setHealth('unhealthy', null);
    this.#log.error({ error: message }, 'app start failed');
    this.#emit();
  }

  /** Exit detection, health checks and the settle and crash-loop timers for a new process. */
  #watch(proc: OwnedProcess): void {
    this.#unwatch();
    if (proc.child === null) {
      this.#pollTimer = setInterval(() => {
        if (proc.identity === null || !isSameProcessAlive(proc.identity)) this.#onExit(proc.gen, null, null);
      }, this.#adoptPollMs);
      this.#pollTimer.unref();
    }
    const startedAt = this.#startedAtMs ?? this.#now();
    const upFor = this.#now() - startedAt;
    const health = this.#release.manifest.health;
    if (health !== undefined) {
      this.#checker = new HealthChecker({
        spec: health,
        cwd: this.#cwd,
        env: this.#env,
        ...(this.#release.user ? { user: this.#release.user } : {}),
        startedAtMs: startedAt,
        now: this.#now,
        onChange: (h, detail) => this.#onHealth(proc.gen, h, detail),
        onProbe: (r) => this.#log.trace({ ok: r.ok, detail: r.detail }, 'health probe'),
      });
      this.#checker.start();
    } else {
      // No health check: an app that stays up through the settle period counts as healthy,
      // which is all the agent can know about it.
      this.#settleTimer = setTimeout(() => this.#settled(proc.gen), Math.max(0, this.#settleMs - upFor));
      this.#settleTimer.unref();
    }
    if (this.#crashLooping) {
      this.#stableTimer = setTimeout(() => this.#recovered(proc.gen), Math.max(0, this.#policy.resetAfterMs - upFor));
      this.#stableTimer.unref();
    }
  }

  #unwatch(): void {
    this.#checker?.stop();
    this.#checker = null;
    this.#clearTimer('settle');
    this.#clearTimer('poll');
  }

  #clearTimer(which: 'restart' | 'settle' | 'stable' | 'poll'): void {
    switch (which) {
      case 'restart':
        clearTimeout(this.#restartTimer);
        this.#restartTimer = undefined;
        break;
      case 'settle':
        clearTimeout(this.#settleTimer);
        this.#settleTimer = undefined;
        break;
      case 'stable':
        clearTimeout(this.#stableTimer);
        this.#stableTimer = undefined;
        break;
      case 'poll':
        clearInterval(this.#pollTimer);
        this.#pollTimer = undefined;
        break;
    }
  }

  #current(gen: number): OwnedProcess | null {
    const proc = this.#proc;
    return proc !== null && proc.gen === gen && !this.#detached ? proc : null;
  }

  #settled(gen: number): void {
    if (this.#current(gen) === null || this.#state === 'stopping') return;
    if (this.#state === 'starting') this.#state = 'running';
    this.#setHealth('healthy', null);
    this.#emit();
  }

  #recovered(gen: number): void {
    if (this.#current(gen) === null || this.#state !== 'crash-loop') return;
    this.#crashLooping = false;
    this.#state = 'running';
    this.#error = null;
    this.#log.info({ restarts: this.#restarts }, 'app recovered from crash loop');
    this.#emit();
  }

  #onHealth(gen: number, health: HealthState, detail: string): void {
    if (this.#current(gen) === null || this.#state === 'stopping') return;
    if (this.#state === 'starting') this.#state = 'running';
    this.#setHealth(health, health === 'unhealthy' ? detail : null);
    const level = health === 'unhealthy' ? 'warn' : 'info';
    this.#log[level]({ health, detail }, 'app health changed');
    this.#emit();
  }

  #onExit(gen: number, code: number | null, signal: NodeJS.Signals | null): void {
    const proc = this.#proc;
    if (proc === null || proc.gen !== gen) return;
    proc.exited = true;
    // A stop in progress waits for exactly this; an agent going away leaves it to the next one.
    if (this.#detached || this.#stopping !== null || !this.#wanted) return;
    this.#proc = null;
    this.#unwatch();
    this.#clearTimer('stable');
    // What the app forked stays in its group and would hold its port against the restart.
    signalGroup(proc.pid, 'SIGKILL');
    const now = this.#now();
    this.#lastExit = { code, signal, atMs: now };
    this.#exits.push(now);
    if (this.#exits.length > MAX_EXITS_KEPT) this.#exits.splice(0, this.#exits.length - MAX_EXITS_KEPT);
    const decision = decideRestart(this.#exits, this.#lastStartMs, now, this.#policy);
    this.#crashLooping = decision.decision === 'crash-loop';
    this.#state = this.#crashLooping ? 'crash-loop' : 'backoff';
    const how =
      code !== null
        ? `exited with code ${code}${SHELL_EXIT_HINTS[code] ?? ''}`
        : signal !== null
          ? `was killed by ${signal}`
          : 'exited (status unknown: it was started by an earlier agent process)';
    // Kept while a crash-looping app runs again, so it must not name a delay that has passed.
    this.#error = this.#crashLooping ? `app ${how}; crash loop: ${decision.reason}` : `app ${how}`;
    this.#setHealth('unhealthy', null);
    this.#log.warn(
      { pid: proc.pid, code, signal, delayMs: decision.delayMs, decision: decision.decision, reason: decision.reason },
      this.#crashLooping ? 'app crash-looping' : 'app exited',
    );
    this.#restartTimer = setTimeout(() => this.#restart(), decision.delayMs);
    this.#restartTimer.unref();
    this.#emit();
  }

  #restart(): void {
    this.#restartTimer = undefined;
    if (!this.#wanted || this.#detached || this.#proc !== null || this.#spawning !== null) return;
    this.#restarts++;
    void this.#spawnTracked();
  }

  async #stopProcess(proc: OwnedProcess): Promise<void> {
    this.#unwatch();
    this.#state = 'stopping';
    this.#emit();
    const { signal, timeout } = this.#release.manifest.stop;
    // The exit event (our child) or the identity check (adopted, or a child not reaped yet).
    const leaderGone = (): boolean =>
      proc.exited || (proc.identity === null ? proc.child === null : !isSameProcessAlive(proc.identity));
    const gone = (): boolean => leaderGone() && !groupAlive(proc.pid);
    this.#log.info({ pid: proc.pid, signal, timeoutMs: timeout }, 'stopping app');
    signalGroup(proc.pid, signal);
    if (!(await this.#waitUntil(gone, timeout))) {
      this.#log.warn({ pid: proc.pid, timeoutMs: timeout }, 'app did not stop in time; killing its process group');
      signalGroup(proc.pid, 'SIGKILL');
      if (!(await this.#waitUntil(gone, this.#killWaitMs))) {
        this.#log.error({ pid: proc.pid }, 'app process group survived SIGKILL');
      }
    }
    if (this.#proc === proc) this.#proc = null;
    this.#crashLooping = false;
    this.#state = 'stopped';
    this.#error = null;
    this.#setHealth('unknown', null);
    this.#log.info({ pid: proc.pid }, 'app stopped');
    this.#emit();
  }

  /** Polls `done` until it holds or `timeoutMs` passed; true when it held. */
  async #waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise((r) => setTimeout(r, Math.min(this.#stopPollMs, left)));
    }
    return true;
  }

  #setHealth(health: HealthState, error: string | null): void {
    this.#healthError = error;
    if (health === this.#health) return;
    this.#health = health;
    this.#healthSinceMs = this.#now();
  }

  #emit(): void {
    if (this.#onChange === undefined) return;
    const snap = this.snapshot();
    const key = JSON.stringify(snap);
    if (key === this.#lastEmitted) return;
    this.#lastEmitted = key;
    try {
      this.#onChange(snap);
    } catch (err) {
      this.#log.error({ err }, 'onChange listener failed');
    }
  }
}
