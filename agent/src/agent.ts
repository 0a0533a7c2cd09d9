import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { connect as natsConnect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { APP_NAME, type Announce, type Heartbeat, type Inventory, type Logger } from '@flotilla/shared';
import type { AgentConfig } from './config.js';
import { ControlLink } from './control-link.js';
import { Converger } from './converge.js';
import { ControllerList, downloadFromAny } from './controllers.js';
// Not install/index.js nor inventory.js: the download, unpack and inventory code (gRPC,
// protobuf, tar, systeminformation) loads in the work thread only.
import { basicInventory, LoadSampler } from './host.js';
import { ReleaseStore } from './install/releases.js';
import { cleanStaging } from './install/staging.js';
import { artifactsHostNeeds, pruneDownloadCache } from './cache-retention.js';
import { AppProcesses } from './processes.js';
import { AppUsers } from './app-users.js';
import { adoptApps, followCurrentLinks } from './adopt.js';
import { AssignmentIntake } from './assignment-intake.js';
import { lookupUser, type UserLookup } from './process/index.js';
import { StateKeeper, StateStore, sameProcess, type LocalState } from './state.js';
import { TrustKeeper } from './trust.js';
import { WorkThread } from './worker/thread.js';
import { ensureRoomForDownload } from './install/disk-space.js';
import { ReportClock, appStatus, reportedApps } from './status.js';
import { Traffic } from './traffic/index.js';

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
  private readonly trust: TrustKeeper;
  /** Verifies, persists and hands on the controller's assignments. */
  private readonly intake: AssignmentIntake;
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
    this.intake = new AssignmentIntake({
      hostId: config.hostId,
      trust: this.trust,
      keeper: () => this.keeper,
      converger: () => this.converger,
      link: () => this.link,
      running: () => this.runState === 'running',
      now: this.now,
      log: this.log,
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
      onAssignment: (signed, source) => this.intake.onAssignment(signed, source),
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
    this.keeper = new StateKeeper(this.stateStore, await followCurrentLinks(this.releases, saved, apps, this.log));
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
      traffic: new Traffic({ ...this.config.traffic, apps: this.config.apps }, this.deps.logger),
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
    await adoptApps({ releases: this.releases, appOverrides: this.config.apps, processes: this.processes, keeper: this.keeper, log: this.log });
    this.intake.resume();
    this.inventory = await this.worker.inventory().catch((err: unknown) => {
      this.log.warn({ err }, 'inventory could not be collected; announcing what the os module tells');
      return basicInventory();
    });
  }

  private async appsOnDisk(): Promise<string[]> {
    return (await this.releases.listApps()).filter((app) => APP_NAME.test(app));
  }

  /** The fault-injection point (tests only): dies here as a SIGKILL would kill it. */
  private faultKill(app: string, step: string): void {
    if (step !== this.deps.killAfterStep) return;
    this.log.warn({ app, step }, 'fault injection: killing the agent after an install step');
    process.kill(process.pid, 'SIGKILL');
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
    const unsaved = this.intake.unsaved;
    const apps = reportedApps(assignment, state, this.processes.apps(), this.converger?.apps() ?? []).map((app) =>
      this.reports.stamp(
        appStatus({
          app,
          assignment,
          state,
          snapshot: this.processes.snapshot(app),
          progress: this.converger?.progressOf(app),
          sinceMs: this.startedAtMs,
          agentError: unsaved && `assignment seq ${unsaved.seq} not accepted: cannot save state: ${unsaved.error}`,
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
        stale: this.intake.isStale(now),
        error: this.intake.trustError,
      },
    };
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
    this.intake.stop();
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
