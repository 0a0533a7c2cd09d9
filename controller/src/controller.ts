import { mkdir } from 'node:fs/promises';
import {
  ConfigError,
  FLOTILLA_VERSION,
  UnavailableError,
  createLogger,
  errorMessage,
  subjects as makeSubjects,
  type Logger,
} from '@flotilla/shared';
import type { ClusterInfo } from '@flotilla/proto';
import type { AlarmSink, BuiltinAlarms } from './alarms/index.js';
import { ArtifactStore } from './artifacts.js';
import { AssignmentWriter } from './assignments.js';
import { HostRevocations } from './auth/revocations.js';
import { CommandInbox } from './cluster/inbox.js';
import { Leadership } from './cluster/leadership.js';
import { LeadershipMetrics } from './cluster/metrics.js';
import { controllerId, openClusterBuckets, type ClusterBuckets } from './cluster/store.js';
import { clusterInfo, clusterView, type ClusterView } from './cluster-view.js';
import { PROGRAM, type ControllerConfig } from './config.js';
import { buildFleetServices } from './fleet-services.js';
import type { OperatorControlHandlers } from './grpc/identity-service.js';
import type { RunningGrpcServer } from './grpc/server.js';
import { leaderExecutor, type HandOverDeps } from './hand-over.js';
import { connectHostFacing } from './host-link.js';
import { listenToHosts, type HostIntake } from './host-intake.js';
import { HostRegistry } from './hosts.js';
import { HttpServer, sendJson } from './http.js';
import { startListeners, type ControllerAddresses } from './listeners.js';
import { ControllerMetrics } from './metrics.js';
import { connectNats, type NatsLink } from './nats.js';
import { migrateLocalReleases, openReleaseObjects } from './release-objects.js';
import type { ArtifactGc } from './retention/index.js';
import type { RevertPath } from './reverts/revert-path.js';
import type { RolloutManager } from './rollouts/manager.js';
import { StoreBehindLog } from './store-behind-log.js';
import { openControllerStore, type ControllerStore } from './store/store.js';
import { natsAssignmentPublisher } from './subscriptions.js';
import { ReloadableTls } from './tls/reloadable.js';
import { loadTrustDocuments } from './trust-documents.js';

export type { ClusterView } from './cluster-view.js';
export type { ControllerAddresses } from './listeners.js';

/** Where the controller is in its life. */
export type ControllerState =
  | 'starting' // connecting, opening buckets, binding listeners
  | 'running' // serving gRPC and HTTP, tracking hosts
  | 'stopping' // graceful shutdown in progress
  | 'stopped' // shut down cleanly
  | 'failed'; // stopped because something it depends on broke

/** The parts that exist only to share the work between controllers. */
interface ClusterParts {
  readonly id: string;
  readonly buckets: ClusterBuckets;
  readonly inbox: CommandInbox;
  /** The local sink and Control handlers the leader runs handed-over commands with. */
  readonly alarmSink: AlarmSink;
  readonly control: OperatorControlHandlers;
  /** Set in run(); the fence and hand-over read it. */
  leadership?: Leadership;
}

export interface ControllerDeps {
  /** The program's root logger. @default one built from config.log */
  logger?: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Fault injection for tests: runs right after a new revert record is written (main.ts). */
  afterRevertRecord?: () => void;
}

/**
 * The control plane: stores signed artifacts, tracks hosts from their heartbeats, and signs and
 * sends each host's assignment. `create()` connects and binds (so a bad address or an
 * unreachable NATS fails start), `run()` serves until `shutdown()`.
 */
export class Controller {
  private currentState: ControllerState = 'starting';
  private hostIntake: HostIntake | undefined;
  private readonly startedMs: number;
  private shuttingDown: Promise<void> | undefined;
  /** Leader duties taken up and put down in order, one change at a time. */
  private duties: Promise<void> = Promise.resolve();
  private unwatchAssignments: (() => void) | undefined;
  private markRunning!: () => void;
  private readonly running = new Promise<void>((resolve) => (this.markRunning = resolve));
  private markStopped!: () => void;
  private readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));

  private constructor(
    readonly config: ControllerConfig,
    private readonly logger: Logger,
    private readonly nats: NatsLink,
    /** Hears hosts and answers them; holds no JetStream rights (host-link.ts). */
    private readonly hostLink: NatsLink,
    /** The KV buckets: the rollout engine keeps its own records beside these. */
    readonly store: ControllerStore,
    readonly artifacts: ArtifactStore,
    readonly hosts: HostRegistry,
    readonly assignments: AssignmentWriter,
    /** The rollout engine's I/O layer; `rollouts.alarm(app, source, reason)` stops an app's rollout. */
    readonly rollouts: RolloutManager,
    /** Where every alarm goes (webhooks, built-in alarms); rollbacks; the event log. */
    readonly reverts: RevertPath,
    /** Built-in alarms from what agents report; started and stopped with the host registry. */
    private readonly builtinAlarms: BuiltinAlarms,
    readonly metrics: ControllerMetrics,
    private readonly grpc: RunningGrpcServer,
    /** Add routes here (alert webhooks) before or after run(). */
    readonly http: HttpServer,
    readonly addresses: ControllerAddresses,
    private readonly cluster: ClusterParts,
    now: () => number,
    private readonly revocations: HostRevocations,
    private readonly tls: ReloadableTls | undefined,
    /** Artifact retention's periodic collection; started and stopped with the controller. */
    private readonly retention: ArtifactGc,
    /** Hosts' evidence that the store went back in time, into the event log. */
    private readonly storeBehind: StoreBehindLog,
  ) {
    this.startedMs = now();
  }

  get state(): ControllerState {
    return this.currentState;
  }

  /** The NATS connection, for parts wired in beside the controller (the rollout engine). */
  get nc() {
    return this.nats.nc;
  }

  static async create(config: ControllerConfig, deps: ControllerDeps = {}): Promise<Controller> {
    const root = deps.logger ?? createLogger({ name: PROGRAM, level: config.log.level, pretty: config.log.pretty });
    const logger = root.child({ component: 'controller' });
    const now = deps.now ?? Date.now;
    try {
      await mkdir(config.dataDir, { recursive: true });
    } catch (err) {
      throw new ConfigError(`${PROGRAM} config is invalid: dataDir: cannot create ${config.dataDir}: ${errorMessage(err)}`, {
        cause: err,
      });
    }

    const cleanups: (() => Promise<unknown>)[] = [];
    try {
      const nats = await connectNats(config.nats, root.child({ component: 'nats' }));
      cleanups.push(() => nats.nc.close());
      const hostLink = await connectHostFacing(config.nats, root.child({ component: 'nats-hosts' }));
      cleanups.push(() => hostLink.nc.close());
      const store = await openControllerStore(nats.nc, {
        replicas: config.nats.kvReplicas,
        logger: root.child({ component: 'store' }),
      });
      const trust = await loadTrustDocuments({
        controllerKeyPath: config.controllerKey,
        signingKey: config.keys.controller,
        dataDir: config.dataDir,
        releaseKeys: config.keys.trusted,
        logger: root.child({ component: 'trust' }),
      });
      const objects = await openReleaseObjects(nats.nc, config.nats.kvReplicas);
      const artifacts = await ArtifactStore.open({
        dataDir: config.dataDir,
        // Revoked release keys are out: their descriptors are refused at upload.
        trusted: trust.releaseKeys,
        maxBytes: config.artifacts.maxBytes,
        buckets: { artifacts: store.artifacts, apps: store.apps },
        logger: root.child({ component: 'artifacts' }),
        objects,
        now,
      });
      // A data dir from before the object store holds the only copy of its releases.
      await migrateLocalReleases(artifacts.dir, objects, root.child({ component: 'artifacts' }));
      // Releases retention deleted (on the leader) leave every controller's cache, now or, for
      // those deleted while this one was down, at its start.
      const stopDeletionWatch = await objects.watchDeleted((sha256) => {
        artifacts.dropCached(sha256).catch((err: unknown) => root.warn({ err, sha256 }, 'cannot drop a deleted release from the cache'));
      }, root.child({ component: 'artifacts' }));
      cleanups.push(async () => stopDeletionWatch());
      await artifacts.pruneCache();
      const hosts = await HostRegistry.load({
        bucket: store.hosts,
        downAfterMissed: config.hosts.downAfterMissed,
        labels: config.hosts.labelPolicy,
        logger: root.child({ component: 'hosts' }),
        now,
      });
      const subjects = makeSubjects(config.nats.subjectPrefix);
      const metrics = new ControllerMetrics(hosts);
      const id = await controllerId(config.dataDir);
      const clusterBuckets = await openClusterBuckets(nats.nc, config.nats.kvReplicas, root.child({ component: 'cluster' }));
      const inbox = await CommandInbox.open(nats.nc, {
        subjectPrefix: config.nats.subjectPrefix,
        replicas: config.nats.kvReplicas,
        ackWaitMs: config.cluster.leaseMs,
        self: id,
        logger: root.child({ component: 'commands' }),
        now,
      });
      const cluster: Omit<ClusterParts, 'alarmSink' | 'control'> & { leadership?: Leadership } = { id, buckets: clusterBuckets, inbox };
      const isLeader = () => cluster.leadership?.isLeader() ?? false;
      const assignments = await AssignmentWriter.load({
        bucket: store.assignments,
        signingKey: config.keys.controller,
        publisher: natsAssignmentPublisher(hostLink.nc, subjects),
        logger: root.child({ component: 'assignments' }),
        concurrency: config.assignments.concurrency,
        pipeline: config.assignments.pipeline,
        ttlMs: config.assignments.ttlMs,
        trust,
        now,
        onWritten: () => metrics.assignmentsWritten.inc(),
        // Only the leader writes assignments, each under its fencing number.
        fence: {
          fence: () => {
            if (!cluster.leadership) throw new UnavailableError('this controller is not the leader yet');
            return cluster.leadership.fence();
          },
        },
      });
      const fault = deps.afterRevertRecord ? { afterRevertRecord: deps.afterRevertRecord } : {};
      const services = buildFleetServices({ config, root, store, artifacts, hosts, assignments, metrics, now, isLeader, ...fault });
      const { ledger, rollouts, reverts, alarmSink, retention, builtinAlarms } = services;

      const revocations = await HostRevocations.open(nats.nc, { replicas: config.nats.kvReplicas, logger: root });
      cleanups.push(async () => revocations.stop());
      const tls = config.tls ? await ReloadableTls.load(config.tls, root.child({ component: 'tls' })) : undefined;
      tls?.watchFiles();
      cleanups.push(async () => tls?.close());
      let viewCluster: () => Promise<ClusterInfo> = async () => ({});
      const handOver: HandOverDeps = { isLeader, submitAndWait: (kind, body, waitMs) => inbox.submitAndWait(kind, body, waitMs) };
      const { grpc, http, addresses, control } = await startListeners({
        config,
        root,
        store,
        artifacts,
        hosts,
        assignments,
        metrics,
        services,
        revocations,
        tls,
        handOver,
        cluster: () => viewCluster(),
        now,
        cleanups,
      });

      const controller = new Controller(
        config,
        logger,
        nats,
        hostLink,
        store,
        artifacts,
        hosts,
        assignments,
        rollouts,
        reverts,
        builtinAlarms,
        metrics,
        grpc,
        http,
        addresses,
        Object.assign(cluster, { alarmSink, control }),
        now,
        revocations,
        tls,
        retention,
        new StoreBehindLog({ events: ledger, logger: root.child({ component: 'store-behind' }), now }),
      );
      controller.addRoutes();
      viewCluster = async () => clusterInfo(await controller.clusterView());
      return controller;
    } catch (err) {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Starts tracking hosts and answering agents, then serves until shutdown() (or a fatal loss of
   * NATS). Resolves when the controller has stopped.
   */
  async run(): Promise<void> {
    if (this.currentState !== 'starting') throw new Error(`controller cannot run from state ${this.currentState}`);
    const { nc } = this.nats;
    this.hostIntake = listenToHosts({
      config: this.config,
      hostLink: this.hostLink,
      hosts: this.hosts,
      assignments: this.assignments,
      metrics: this.metrics,
      storeBehind: this.storeBehind,
      isLeader: () => this.cluster.leadership?.isLeader() ?? false,
      logger: this.logger,
    });
    this.hosts.start();
    this.retention.start();
    // A follower's reads (status, hosts' seqs) follow the leader's assignment writes.
    this.unwatchAssignments = await this.store.assignments.watchUpdates((e) => this.assignments.observe(e.key, e.value));
    const leadershipMetrics = new LeadershipMetrics(this.metrics.registry, { isLeader: () => this.cluster.leadership?.isLeader() ?? false });
    const leadership = new Leadership({
      leaderBucket: this.cluster.buckets.leader,
      memberBucket: this.cluster.buckets.members,
      self: { id: this.cluster.id, grpc: this.addresses.advertised.grpc, http: this.addresses.advertised.http },
      settings: { leaseMs: this.config.cluster.leaseMs, renewMs: this.config.cluster.renewIntervalMs, marginMs: this.config.cluster.marginMs },
      logger: this.logger.child({ component: 'leadership', controllerId: this.cluster.id }),
      onGained: (fence) => {
        leadershipMetrics.gained(fence);
        this.duties = this.duties.then(() => this.lead());
      },
      onLost: (reason) => {
        leadershipMetrics.lost();
        // Self-fencing: the fence already refuses every assignment write; the duties stop too.
        this.logger.warn({ reason }, 'leadership lost; standing down to follower');
        this.duties = this.duties.then(() => this.standDown());
      },
    });
    this.cluster.leadership = leadership;
    // The first round decides before the controller says it runs: a lone controller leads at once.
    await leadership.start();
    await this.duties;
    for (const link of [nc, this.hostLink.nc]) {
      void link.closed().then((err) => {
        if (this.currentState !== 'running') return;
        this.logger.fatal({ err: err ? errorMessage(err) : 'closed' }, 'NATS connection closed; stopping');
        void this.shutdown('failed');
      });
    }
    this.currentState = 'running';
    if (this.config.insecure) {
      this.logger.warn(
        { grpc: this.addresses.grpc },
        'INSECURE: --insecure given; calls without credentials pass; anyone who reaches this port owns the fleet',
      );
    }
    this.logger.info(
      {
        version: FLOTILLA_VERSION,
        grpc: this.addresses.grpc,
        http: this.addresses.http,
        advertised: this.addresses.advertised,
        hosts: this.hosts.list().length,
        activeRollouts: this.rollouts.activeIds(),
        subjectPrefix: this.config.nats.subjectPrefix,
        auth: this.config.open ? 'OPEN' : 'required',
        tls: this.tls !== undefined,
        operators: this.config.operators.map((o) => o.name),
        alertWebhooks:
          this.config.alerts.token || this.config.alerts.sources.length > 0 ? 'on' : 'off (no alerts.sources or alerts.token)',
        trustedKeys: this.config.keys.trusted.map((k) => k.keyId),
        controllerKeyId: this.config.keys.controller.keyId,
        controllerId: this.cluster.id,
        role: leadership.role,
      },
      'controller running',
    );
    this.assignments.startRefresh(this.config.assignments.refreshIntervalMs);
    this.markRunning();
    await this.stopped;
  }

  /** Rereads the TLS files (SIGHUP); false when there is no TLS or the new files were refused. */
  reloadCertificates(): Promise<boolean> {
    return this.tls ? this.tls.reload() : Promise.resolve(false);
  }

  /**
   * The leader's duties, started when this controller wins the lease: the rollouts resume (a
   * tick each) and hear every heartbeat, the built-in alarms act, a revert a previous leader left
   * half-done is finished (its steps are idempotent), and writes handed over by followers are
   * carried out.
   */
  private async lead(): Promise<void> {
    // The role, not isLeader(): a renewal merely late (a stalled event loop) makes isLeader()
    // false for a moment, and skipping the duties then would leave a leader that never takes
    // them up, since no loss (and so no new gain) may follow. While the renewal is late every
    // write is refused by the fence all the same; a real loss queues a standDown after this.
    const leadership = this.cluster.leadership;
    if (this.currentState === 'stopping' || leadership?.role !== 'leader') return;
    try {
      await this.rollouts.resume();
      this.rollouts.listen();
      this.builtinAlarms.start();
      void this.reverts.resume();
      await this.cluster.inbox.consume(leaderExecutor(this.cluster.control, this.cluster.alarmSink, this.logger), () => leadership.isLeader());
      this.logger.info({ activeRollouts: this.rollouts.activeIds() }, 'leading');
    } catch (err) {
      if (this.shuttingDown) return;
      // A read that timed out (a quorum just back, a stalled process) is no reason to stop for
      // good: a lone controller has nobody to take over. What was taken up is put down, and the
      // duties are taken up again while this controller still holds the lease.
      this.logger.error({ err }, 'cannot take up the leader duties; trying again');
      await this.standDown();
      setTimeout(() => {
        this.duties = this.duties.then(() => this.lead());
      }, this.config.cluster.renewIntervalMs).unref();
    }
  }

  /** Puts the leader duties down (the lease is lost); what they were doing stays in the store for the next leader. */
  private async standDown(): Promise<void> {
    if (this.currentState === 'stopping') return;
    try {
      await this.cluster.inbox.stop();
      await this.builtinAlarms.stop();
      await this.rollouts.standDown(this.config.shutdownTimeoutMs);
      this.logger.info({}, 'following');
    } catch (err) {
      this.logger.fatal({ err }, 'cannot stand down as leader; stopping');
      void this.shutdown('failed');
    }
  }

  /** Resolves once run() has everything started. */
  whenRunning(): Promise<void> {
    return this.running;
  }

  /**
   * Graceful stop: no new calls, in-flight ones get `shutdownTimeoutMs` to finish, then NATS is
   * drained (pending publishes flushed) and the logs flushed. Safe to call more than once.
   */
  shutdown(outcome: 'stopped' | 'failed' = 'stopped'): Promise<void> {
    this.shuttingDown ??= this.stop(outcome);
    return this.shuttingDown;
  }

  private async stop(outcome: 'stopped' | 'failed'): Promise<void> {
    this.currentState = 'stopping';
    this.logger.info({}, 'controller stopping');
    const graceMs = this.config.shutdownTimeoutMs;
    this.hostIntake?.stop();
    this.revocations.stop();
    this.tls?.close();
    this.unwatchAssignments?.();
    // Built-in alarms stop hearing hosts first; hand-overs in flight finish while NATS is up.
    await this.builtinAlarms.stop();
    // A collection in progress finishes its deletions while NATS is still up.
    await this.retention.stop();
    await this.storeBehind.stop();
    await this.hosts.stop(graceMs);
    await this.assignments.stopRefresh();
    // Watch streams never end on their own; end them so the gRPC server can close at once.
    this.rollouts.closeWatches();
    await Promise.all([
      this.grpc.close(graceMs).catch((err: unknown) => this.logger.warn({ err: errorMessage(err) }, 'gRPC close failed')),
      this.http.close(graceMs).catch((err: unknown) => this.logger.warn({ err: errorMessage(err) }, 'HTTP close failed')),
    ]);
    // No more handed-over commands; the one in hand finishes (unacknowledged ones go to the next leader).
    await this.cluster.inbox.stop().catch((err: unknown) => this.logger.warn({ err }, 'command consumer stop failed'));
    // Transitions in flight finish their KV write and actions while NATS is still up.
    await this.rollouts.stop(graceMs);
    // Then the lease is released, so a follower takes over at once rather than after a lease.
    await this.cluster.leadership?.stop();
    // Both connections drain: pending assignments on the host-facing one, KV writes on the main one.
    await Promise.all(
      [this.hostLink.nc, this.nats.nc].map(async (nc) => {
        if (nc.isClosed()) return;
        const drained = nc.drain().catch((err: unknown) => this.logger.warn({ err }, 'NATS drain failed'));
        const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
        await Promise.race([drained, timer]);
        if (!nc.isClosed()) await nc.close().catch(() => undefined);
      }),
    );
    this.currentState = outcome;
    this.logger.info({ outcome }, 'controller stopped');
    await new Promise<void>((resolve) => this.logger.flush(() => resolve()));
    this.markStopped();
  }

  /** Which controller leads, since when, and every controller's last word (for /healthz and status). */
  clusterView(): Promise<ClusterView> {
    return clusterView(this.cluster.id, this.cluster.leadership, this.config.cluster.renewIntervalMs, Date.now());
  }

  private addRoutes(): void {
    this.http
      .route('GET', '/healthz', async (_req, res) => {
        // Cut off from hosts is as unhealthy as cut off from the store.
        const nats = this.nats.state() === 'connected' ? this.hostLink.state() : this.nats.state();
        const ok = nats === 'connected' && this.currentState === 'running';
        const { up, down } = this.hosts.counts();
        sendJson(res, ok ? 200 : 503, {
          status: ok ? 'ok' : 'unavailable',
          nats,
          state: this.currentState,
          version: FLOTILLA_VERSION,
          uptimeMs: Date.now() - this.startedMs,
          hosts: { up, down },
          cluster: await this.clusterView(),
        });
      })
      .route('GET', '/metrics', async (_req, res) => {
        const text = await this.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
        res.end(text);
      });
  }
}
