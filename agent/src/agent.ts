import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { connect as natsConnect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import {
  APP_NAME,
  MANIFEST_FILE,
  SignatureError,
  StaleAssignmentError,
  errorMessage,
  isKeyRotation,
  comparePositions,
  parseAssignment,
  parseManifest,
  positionOf,
  verifyAssignment,
  type AssignmentCheck,
  type Announce,
  type Assignment,
  type Heartbeat,
  type Inventory,
  type Logger,
  type SignedAssignment,
} from '@flotilla/shared';
import type { AgentConfig } from './config.js';
import { ControlLink, type AssignmentSource } from './control-link.js';
import { Converger } from './converge.js';
import { ControllerList, downloadFromAny } from './controllers.js';
// Not install/index.js nor inventory.js: the download, unpack and inventory code (gRPC,
// protobuf, tar, systeminformation) loads in the work thread only.
import { basicInventory, LoadSampler } from './host.js';
import { ReleaseStore } from './install/releases.js';
import { cleanStaging } from './install/staging.js';
import { artifactsHostNeeds, pruneDownloadCache } from './cache-retention.js';
import { signalGroup, type MarkedProcess, type ProcessIdentity } from './process/index.js';
import { AppProcesses } from './processes.js';
import { AppUsers } from './app-users.js';
import { lookupUser, type UserLookup } from './process/index.js';
import { StateKeeper, StateStore, sameProcess, type AppLocalState, type LocalState } from './state.js';
import { TrustKeeper } from './trust.js';
import { WorkThread } from './worker/thread.js';
import { ensureRoomForDownload } from './install/disk-space.js';
import { ReportClock, appStatus, reportedApps } from './status.js';
import { Traffic } from './traffic/index.js';

/** How soon an assignment that could not be saved is tried again (the controller also re-sends it). */
const SAVE_RETRY_MS = 5_000;

/** At most one sync a while for an assignment from a key epoch this host has not reached. */
const EPOCH_RESYNC_MS = 30_000;

/** Where the agent is in its life. */
export type AgentRunState =
  | 'starting' // preparing the data dir, loading state, re-adopting apps
  | 'running' // converging and (once NATS answers) talking to the controller
  | 'stopping' // shutdown requested: calling off installs, detaching from apps, draining NATS
  | 'stopped' // done; apps keep running without the agent
  | 'failed'; // could not start; run() rejected with the reason

export interface AgentDeps {
  logger: Logger;
  /** Opens the NATS connection. @default connect from @nats-io/transport-node */
  connect?: (opts: NodeConnectionOptions) => Promise<NatsConnection>;
  now?: () => number;
  /**
   * Fault injection for tests: the agent SIGKILLs itself right after this install step ran,
   * before its progress is saved (main.ts reads it from FLOTILLA_FAULT_KILL_AFTER_STEP).
   */
  killAfterStep?: string;
  /** Finds the users apps run as. @default getent passwd (process/app-user.ts) */
  lookupUser?: UserLookup;
}

/**
 * flotilla-agent: keeps this host on its signed assignment. Apps are supervised processes that
 * outlive the agent: on start it re-adopts what its previous run left running, and on shutdown it
 * lets go of them without stopping them.
 */
export class Agent {
  private runState: AgentRunState = 'starting';
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly bootId = randomUUID();
  private readonly startedAtMs: number;
  private readonly releases: ReleaseStore;
  private readonly stateStore: StateStore;
  private keeper: StateKeeper | null = null;
  private readonly processes: AppProcesses;
  /** Set in prepare(), before any app is started or adopted. */
  private users: AppUsers | null = null;
  private readonly sampler: LoadSampler;
  private readonly reports = new ReportClock();
  private readonly worker: WorkThread;
  private readonly controllers: ControllerList;
  private converger: Converger | null = null;
  private link: ControlLink | null = null;
  private inventory: Inventory | null = null;
  private heartbeats = 0;
  /** An assignment that verified but could not be saved, so it was not accepted (full disk, I/O error). */
  private unsaved: { seq: number; error: string } | null = null;
  private readonly trust: TrustKeeper;
  /** Why the last assignment or key statement was refused (reported in heartbeats), or null. */
  private trustError: string | null = null;
  private lastEpochResyncMs = 0;
  private expiryOf: { payload: string; expiresAtMs: number | undefined } | null = null;
  private saveRetry: NodeJS.Timeout | undefined;
  private shuttingDown: Promise<void> | null = null;
  private resolveStopped!: () => void;
  private readonly stopped = new Promise<void>((resolve) => {
    this.resolveStopped = resolve;
  });

  private constructor(
    private readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.log = deps.logger.child({ component: 'agent' });
    this.now = deps.now ?? Date.now;
    this.startedAtMs = this.now();
    this.releases = new ReleaseStore({ dataDir: config.dataDir, logger: deps.logger });
    this.trust = new TrustKeeper({
      dataDir: config.dataDir,
      controllerKeys: config.controllerKeys,
      releaseKeys: config.releaseKeys,
      logger: deps.logger,
    });
    this.stateStore = new StateStore(config.dataDir, deps.logger);
    this.sampler = new LoadSampler(config.dataDir);
    this.controllers = new ControllerList(config.controller.addresses);
    this.worker = new WorkThread({
      log: { level: config.log.level, ...(config.log.pretty !== undefined ? { pretty: config.log.pretty } : {}) },
      logger: deps.logger,
    });
    this.processes = new AppProcesses({
      logger: deps.logger,
      envOverrides: config.apps,
      // Absolute: the mark must read the same whatever directory a later agent starts in.
      markOf: (app) => resolve(this.releases.appDir(app)),
      userOf: (app) => this.users?.userOf(app),
      onChange: (app, _snapshot, identity) => this.onProcessChange(app, identity),
    });
  }

  /** Builds an agent; nothing touches the disk or the network until run(). */
  static async create(config: AgentConfig, deps: AgentDeps): Promise<Agent> {
    return new Agent(config, deps);
  }

  get state(): AgentRunState {
    return this.runState;
  }

  private setState(next: AgentRunState): void {
    if (next === this.runState) return;
    this.log.info({ from: this.runState, to: next }, 'agent state changed');
    this.runState = next;
  }

  private get local(): LocalState {
    return (this.keeper as StateKeeper).current;
  }

  /** Starts the agent and resolves once it has stopped again (after shutdown()). */
  async run(): Promise<void> {
    const started = this.now();
    try {
      await this.prepare();
    } catch (err) {
      this.setState('failed');
      this.log.fatal({ err }, 'agent could not start');
      this.processes.detachAll();
      await this.worker.close();
      this.resolveStopped();
      throw err;
    }
    if (this.runState !== 'starting') return this.stopped; // shut down while starting
    this.setState('running');
    this.log.info(
      { hostId: this.config.hostId, dataDir: this.config.dataDir, startMs: this.now() - started, apps: Object.keys(this.local.apps) },
      'agent running',
    );
    this.link = new ControlLink({
      hostId: this.config.hostId,
      nats: this.config.nats,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      logger: this.deps.logger,
      connect: this.deps.connect ?? natsConnect,
      announce: () => this.announceMessage(),
      heartbeat: () => this.heartbeatMessage(),
      onAssignment: (signed, source) => this.onAssignment(signed, source),
    });
    this.link.start();
    return this.stopped;
  }

  /**
   * Trims the download cache to its retention after a download, keeping `justDownloaded` for the
   * unpack ahead; resolves with `tarball` whatever happens (a full cache is no reason to fail).
   */
  private async trimCacheAfterDownload(justDownloaded: string, tarball: string): Promise<string> {
    try {
      const protect = await artifactsHostNeeds(this.releases, this.local);
      protect.add(justDownloaded);
      await pruneDownloadCache({ cacheDir: this.releases.cacheDir, retention: this.config.cache, protect, logger: this.log });
    } catch (err) {
      this.log.warn({ err }, 'pruning the download cache failed');
    }
    return tarball;
  }

  /** Everything that happens before the agent talks to anyone: disk, state, apps. */
  private async prepare(): Promise<void> {
    const users = await AppUsers.resolve(this.config, process.getuid?.() === 0, this.deps.lookupUser ?? lookupUser, this.deps.logger);
    this.users = users;
    await this.releases.ensureLayout(users.anyApart);
    const apps = await this.appsOnDisk();
    // What a crash left half-done (an unpack, a link switch) is removed before anything looks at it.
    for (const app of apps) {
      await this.releases.ensureApp(app);
      await this.releases.grantAppAccess(app, users.userOf(app));
      await cleanStaging(this.releases.releasesDir(app));
    }
    await this.trust.load();
    const saved = await this.stateStore.load();
    this.keeper = new StateKeeper(this.stateStore, await this.reconcile(saved, apps));
    this.converger = new Converger({
      logger: this.deps.logger,
      releaseKeys: this.config.releaseKeys,
      releaseKeysInForce: () => this.trust.releaseKeys,
      keepReleases: this.config.keepReleases,
      appOverrides: this.config.apps,
      releases: this.releases,
      processes: this.processes,
      userOf: (app) => users.userOf(app),
      state: this.keeper,
      checkRoom: (d) => ensureRoomForDownload({ dir: this.releases.cacheDir, needBytes: d.size, floor: this.config.minFreeSpace }),
      traffic: new Traffic(this.config.traffic, this.deps.logger),
      download: (d, signal) =>
        downloadFromAny(this.controllers, (controller) =>
          this.worker.download(
            {
              controller,
              sha256: d.sha256,
              size: d.size,
              cacheDir: this.releases.cacheDir,
              ...(this.config.controller.token !== undefined ? { token: this.config.controller.token } : {}),
              ...(this.config.controller.tls ? { tls: { ...this.config.controller.tls } } : {}),
            },
            signal,
          ),
        ).then((tarball) => this.trimCacheAfterDownload(d.sha256, tarball)),
      unpack: (tarball, d, signal) =>
        this.worker.unpack(
          {
            tarball,
            releasesDir: this.releases.releasesDir(d.app),
            version: d.version,
            limits: this.config.unpack,
            marker: { app: d.app, version: d.version, sha256: d.sha256, unpackedAtMs: this.now() },
          },
          signal,
        ),
      onProgress: () => this.link?.heartbeatSoon(),
      ...(this.deps.killAfterStep !== undefined ? { afterStep: (app, step) => this.faultKill(app, step) } : {}),
      now: this.now,
    });
    await this.adoptApps();
    this.resumeAssignment();
    this.inventory = await this.worker.inventory().catch((err: unknown) => {
      this.log.warn({ err }, 'inventory could not be collected; announcing what the os module tells');
      return basicInventory();
    });
  }

  private async appsOnDisk(): Promise<string[]> {
    return (await this.releases.listApps()).filter((app) => APP_NAME.test(app));
  }

  /**
   * The `current` links are the truth about what is active: a crash between the link switch and
   * the state write leaves state.json one step behind, and this catches it up.
   */
  private async reconcile(saved: LocalState, appsOnDisk: readonly string[]): Promise<LocalState> {
    const apps = { ...saved.apps };
    for (const app of new Set([...Object.keys(apps), ...appsOnDisk])) {
      const linked = await this.releases.currentVersion(app);
      const entry = apps[app] ?? { activeVersion: null, previousVersion: null, process: null };
      if (linked !== null && linked !== entry.activeVersion) {
        this.log.warn({ app, saved: entry.activeVersion, linked }, 'state.json was behind the current link; following the link');
        // The install record stays: the install resumes after the switch instead of starting over.
        apps[app] = { ...entry, activeVersion: linked, previousVersion: entry.activeVersion ?? entry.previousVersion, process: null };
      }
    }
    return { ...saved, apps };
  }

  /** The fault-injection point (tests only): dies here as a SIGKILL would kill it. */
  private faultKill(app: string, step: string): void {
    if (step !== this.deps.killAfterStep) return;
    this.log.warn({ app, step }, 'fault injection: killing the agent after an install step');
    process.kill(process.pid, 'SIGKILL');
  }

  /**
   * Takes over the apps the previous agent process left running: by the saved identity, or else
   * by the mark in the process's environment (it died between the spawn and saving the pid).
   * Any other marked process of an app is an orphan nobody tracks and is killed, so it cannot
   * hold the app's port against the process the agent supervises. Apps whose saved process died
   * are started again.
   */
  private async adoptApps(): Promise<void> {
    const found = this.processes.findStarted(Object.keys(this.local.apps));
    for (const [app, entry] of Object.entries(this.local.apps)) {
      const marked = found.get(app) ?? [];
      const adopted = await this.adoptApp(app, entry, marked);
      // Undecided (the release cannot be read): kill nothing that might be the app itself.
      if (adopted === undefined) continue;
      const beside = await this.adoptBeside(app, entry, marked);
      if (beside === undefined) continue;
      for (const orphan of marked) {
        if (orphan.identity.pid === adopted?.pid || orphan.identity.pid === beside?.pid) continue;
        this.log.warn({ app, pid: orphan.identity.pid, version: orphan.version }, 'killing an app process no agent tracks');
        signalGroup(orphan.identity.pid, 'SIGKILL');
      }
    }
  }

  /**
   * The older release an earlier agent left serving beside the active one in the other slot (a
   * traffic shift under way), by its saved identity or its mark. Null when there is none (any
   * more: state.json then says so), undefined when that could not be decided.
   */
  private async adoptBeside(app: string, entry: AppLocalState, marked: readonly MarkedProcess[]): Promise<ProcessIdentity | null | undefined> {
    const beside = entry.traffic?.beside;
    if (!beside || entry.traffic === undefined) return null;
    const slot = entry.traffic.activeSlot === 'a' ? 'b' : 'a';
    const releaseDir = this.releases.releaseDir(app, beside.version);
    let manifest;
    try {
      manifest = parseManifest(await readFile(join(releaseDir, MANIFEST_FILE), 'utf8'), { app, version: beside.version });
    } catch (err) {
      this.log.error({ app, version: beside.version, err }, 'cannot read the manifest of the release beside; not re-adopted');
      return undefined;
    }
    const release = { app, version: beside.version, releaseDir, manifest, logDir: this.releases.logDir(app) };
    for (const identity of [beside.process, marked.find((p) => p.version === beside.version)?.identity]) {
      if (identity && this.processes.adoptBeside(release, identity, slot)) {
        this.log.info({ app, version: beside.version, pid: identity.pid, slot }, 'release beside re-adopted');
        if (!sameProcess(identity, beside.process)) {
          await this.keeper!.updateApp(app, (a) => (a.traffic?.beside ? { ...a, traffic: { ...a.traffic, beside: { ...a.traffic.beside, process: identity } } } : a));
        }
        return identity;
      }
    }
    // Gone: the slot has no process, so the balancer must send it nothing; convergence re-applies.
    this.log.warn({ app, version: beside.version }, 'the release beside is gone');
    await this.keeper!.updateApp(app, (a) => (a.traffic ? { ...a, traffic: { ...a.traffic, beside: null } } : a));
    return null;
  }

  /** The process now supervised for `app`, null for none, undefined when that could not be decided. */
  private async adoptApp(
    app: string,
    entry: AppLocalState,
    marked: readonly MarkedProcess[],
  ): Promise<ProcessIdentity | null | undefined> {
    const version = entry.activeVersion;
    if (version === null || (entry.process === null && marked.length === 0)) return null;
    const releaseDir = this.releases.releaseDir(app, version);
    let manifest;
    try {
      manifest = parseManifest(await readFile(join(releaseDir, MANIFEST_FILE), 'utf8'), { app, version });
    } catch (err) {
      this.log.error({ app, version, err }, 'cannot read the active release manifest; app not re-adopted');
      return undefined;
    }
    const release = { app, version, releaseDir, manifest, logDir: this.releases.logDir(app) };
    const slot = entry.traffic?.activeSlot;
    if (entry.process !== null && this.processes.adopt(release, entry.process, slot)) {
      this.log.info({ app, version, pid: entry.process.pid }, 'app re-adopted');
      return entry.process;
    }
    const candidate = marked.find((p) => p.version === version);
    if (candidate !== undefined && this.processes.adopt(release, candidate.identity, slot)) {
      this.log.info({ app, version, pid: candidate.identity.pid }, 'app re-adopted by its mark (its pid was never saved)');
      await this.saveIdentity(app);
      return candidate.identity;
    }
    if (entry.process === null) return null; // not known to run: convergence decides
    this.log.info({ app, version, pid: entry.process.pid }, 'app process is gone; starting it again');
    await this.processes.launch(release, slot);
    await this.saveIdentity(app);
    return this.processes.identity(app);
  }

  private async saveIdentity(app: string): Promise<void> {
    try {
      await this.keeper!.updateApp(app, (a) => ({ ...a, process: this.processes.identity(app) }));
    } catch (err) {
      // The process carries its mark: the next agent process finds it without the saved pid.
      this.log.error({ app, err }, 'cannot save the app process identity');
    }
  }

  /** Converges on the saved assignment at once: the agent must not need the controller to recover. */
  private resumeAssignment(): void {
    const signed = this.local.assignment;
    if (signed === null) return;
    try {
      const check = this.assignmentCheck();
      const assignment = verifyAssignment(signed, { ...check, accepted: { ...check.accepted, seq: check.accepted.seq - 1 } });
      this.log.info({ seq: assignment.seq }, 'resuming the saved assignment');
      this.converger!.submit(assignment, true);
    } catch (err) {
      // An expired one included: what runs keeps running, and heartbeats say the host is stale.
      this.log.warn({ err }, 'saved assignment no longer holds; keeping what runs, waiting for the controller');
    }
  }

  private onProcessChange(app: string, identity: ReturnType<AppProcesses['identity']>): void {
    this.link?.heartbeatSoon();
    // Keep the identity of a restarted process on disk, so that the next agent process finds it.
    // Only where a process is on record: a fresh start is saved by the step that started it.
    if (this.keeper === null || identity === null || this.runState === 'stopping') return;
    const entry = this.local.apps[app];
    if (entry !== undefined && entry.process !== null && !sameProcess(entry.process, identity)) {
      void this.keeper
        .updateApp(app, (a) => (a.process === null ? a : { ...a, process: identity }))
        .catch((err: unknown) => this.log.error({ app, err }, 'cannot save the app process identity'));
    }
  }

  /** What an arriving assignment is checked against now. */
  private assignmentCheck(): AssignmentCheck {
    const state = this.local;
    return {
      hostId: this.config.hostId,
      trust: this.trust.controllerTrust,
      accepted: { epoch: state.acceptedEpoch ?? 1, seq: state.acceptedSeq },
      nowMs: this.now(),
    };
  }

  /** A controller key rotation statement (pushed, or in a sync's key chain). */
  private async onKeyRotation(signed: SignedAssignment, source: AssignmentSource): Promise<void> {
    try {
      if (await this.trust.rotate(signed)) {
        this.trustError = null;
        this.link?.heartbeatSoon();
      }
    } catch (err) {
      this.trustError = `key rotation statement refused: ${errorMessage(err)}`;
      this.log.warn({ source, keyId: signed.keyId, err }, 'key rotation statement refused');
      this.link?.heartbeatSoon();
    }
  }

  /** Verify, persist, then converge; anything stale, replayed or forged is logged and dropped. */
  private async onAssignment(signed: SignedAssignment, source: AssignmentSource): Promise<void> {
    if (this.runState !== 'running' || this.keeper === null) return;
    if (isKeyRotation(signed)) return this.onKeyRotation(signed, source);
    const check = this.assignmentCheck();
    const acceptedSeq = check.accepted.seq;
    let assignment: Assignment;
    try {
      assignment = verifyAssignment(signed, check);
      // Release-signed revocations and policies ride along; they bind whatever the controller says.
      await this.trust.absorb(assignment);
      for (const [app, a] of Object.entries(assignment.apps)) {
        const refusal = this.trust.refusal(app, a.version);
        if (refusal !== null) throw new SignatureError(`assignment seq ${assignment.seq} refused: ${refusal}`);
      }
    } catch (err) {
      if (err instanceof StaleAssignmentError && err.details.reason === 'replayed') {
        if (err.details.seq === acceptedSeq && signed.payload === this.local.assignment?.payload) {
          // The controller (or a sync) says again what was accepted: retry what failed.
          this.log.debug({ source, seq: acceptedSeq }, 'accepted assignment asserted again');
          this.converger?.reassert();
          return;
        }
        this.log.info({ source, seq: err.details.seq, acceptedSeq }, 'stale or replayed assignment ignored');
        return;
      }
      this.trustError = errorMessage(err);
      this.link?.heartbeatSoon();
      if (err instanceof StaleAssignmentError) {
        this.log.warn({ source, seq: err.details.seq, err }, 'expired assignment refused');
      } else if (err instanceof SignatureError) {
        this.log.warn({ source, keyId: signed.keyId, err }, 'assignment with an invalid signature ignored');
        const epoch = err.details.epoch;
        if (typeof epoch === 'number' && this.now() - this.lastEpochResyncMs >= EPOCH_RESYNC_MS) {
          // Signed in a key epoch this host has not reached: the controller's chain brings it there.
          this.lastEpochResyncMs = this.now();
          this.link?.resync();
        }
      } else {
        this.log.warn({ source, err }, 'malformed assignment ignored');
      }
      return;
    }
    // Persisted before acting, and not accepted unless persisted: heartbeats report the old
    // accepted seq, so the controller sends it again, and a replay of anything older can never
    // move the host again.
    let applied = false;
    try {
      await this.keeper.update((s) => {
        // Checked again against the durable state: a retry below may race a newer assignment.
        if (comparePositions({ epoch: s.acceptedEpoch ?? 1, seq: s.acceptedSeq }, positionOf(assignment)) >= 0) return s;
        applied = true;
        return { ...s, acceptedSeq: assignment.seq, acceptedEpoch: positionOf(assignment).epoch, assignment: signed };
      });
    } catch (err) {
      this.unsaved = { seq: assignment.seq, error: errorMessage(err) };
      this.log.error({ err, source, seq: assignment.seq }, 'assignment could not be saved; not accepted until it can be');
      this.link?.heartbeatSoon();
      // The controller re-sends it too (heartbeats show the old seq); whichever comes first.
      clearTimeout(this.saveRetry);
      this.saveRetry = setTimeout(() => {
        void this.onAssignment(signed, source).catch((e: unknown) => this.log.error({ err: e }, 'retrying an unsaved assignment failed'));
      }, SAVE_RETRY_MS);
      this.saveRetry.unref();
      return;
    }
    if (!applied) return;
    clearTimeout(this.saveRetry);
    this.unsaved = null;
    this.trustError = null;
    this.log.info(
      {
        source,
        seq: assignment.seq,
        apps: Object.fromEntries(Object.entries(assignment.apps).map(([app, a]) => [app, a.version])),
      },
      'assignment accepted',
    );
    this.converger?.submit(assignment, true);
    this.link?.heartbeatSoon();
  }

  private announceMessage(): Announce {
    return {
      type: 'announce',
      hostId: this.config.hostId,
      labels: { ...this.config.labels },
      inventory: this.inventory as Inventory,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      bootId: this.bootId,
      sentAtMs: this.now(),
      // verifyAssignment checks a step-signed assignment's proof: one signature covers a step.
      assignmentProofs: true,
    };
  }

  private async heartbeatMessage(): Promise<Heartbeat> {
    const load = await this.sampler.sample();
    const state = this.local;
    const assignment = this.converger?.assignment ?? null;
    const now = this.now();
    const apps = reportedApps(assignment, state, this.processes.apps(), this.converger?.apps() ?? []).map((app) =>
      this.reports.stamp(
        appStatus({
          app,
          assignment,
          state,
          snapshot: this.processes.snapshot(app),
          progress: this.converger?.progressOf(app),
          sinceMs: this.startedAtMs,
          agentError: this.unsaved && `assignment seq ${this.unsaved.seq} not accepted: cannot save state: ${this.unsaved.error}`,
        }),
        now,
      ),
    );
    return {
      type: 'heartbeat',
      hostId: this.config.hostId,
      n: ++this.heartbeats,
      bootId: this.bootId,
      sentAtMs: now,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      acceptedSeq: state.acceptedSeq,
      load,
      apps,
      labels: { ...this.config.labels },
      trust: {
        acceptedEpoch: state.acceptedEpoch ?? 1,
        keyEpoch: this.trust.controllerTrust.epoch,
        stale: this.isStale(now),
        error: this.trustError,
      },
    };
  }

  /** The accepted assignment has expired (or carries no expiry): the host acts on nothing. */
  private isStale(nowMs: number): boolean {
    const signed = this.local.assignment;
    if (signed === null) return false;
    if (this.expiryOf?.payload !== signed.payload) {
      let expiresAtMs: number | undefined;
      try {
        expiresAtMs = parseAssignment(signed.payload).expiresAtMs;
      } catch {
        expiresAtMs = undefined;
      }
      this.expiryOf = { payload: signed.payload, expiresAtMs };
    }
    return this.expiryOf.expiresAtMs === undefined || this.expiryOf.expiresAtMs <= nowMs;
  }

  /**
   * Stops the agent, not the apps: installs in flight are called off (nothing half-activated),
   * supervisors let go of their processes, their identities are saved for the next agent process,
   * and the NATS connection is drained.
   */
  shutdown(): Promise<void> {
    this.shuttingDown ??= this.doShutdown();
    return this.shuttingDown;
  }

  private async doShutdown(): Promise<void> {
    if (this.runState === 'stopped' || this.runState === 'failed') return;
    this.setState('stopping');
    clearTimeout(this.saveRetry);
    try {
      await this.converger?.close();
      this.processes.detachAll();
      if (this.keeper !== null) {
        for (const app of this.processes.apps()) {
          const identity = this.processes.identity(app);
          if (identity !== null && !sameProcess(this.local.apps[app]?.process, identity)) {
            await this.keeper.updateApp(app, (a) => ({ ...a, process: identity }));
          }
        }
      }
      await this.link?.close();
    } catch (err) {
      this.log.error({ err }, 'shutdown did not finish cleanly');
    } finally {
      await this.worker.close();
      this.setState('stopped');
      this.resolveStopped();
    }
  }
}
