import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { Counter } from 'prom-client';
import type { ClusterInfo } from '@flotilla/proto';
import { advertisedAddress } from './advertise.js';
import { alertRoutes } from './alarms/index.js';
import { authenticator } from './auth/authenticate.js';
import { artifactsGuard, controlGuard } from './auth/call-policy.js';
import { apiTokenOperator } from './auth/config.js';
import { HostArtifacts } from './auth/host-artifacts.js';
import { authorize } from './auth/policy.js';
import type { HostRevocations } from './auth/revocations.js';
import { dialableAddress } from './config.js';
import type { ControllerRecords, FleetServices } from './fleet-services.js';
import { artifactsService } from './grpc/artifacts-service.js';
import { controlService } from './grpc/control-service.js';
import { DiskRoom } from './grpc/disk-room.js';
import { callerOf } from './grpc/guard.js';
import { identityService } from './grpc/identity-service.js';
import { startGrpcServer, type RunningGrpcServer } from './grpc/server.js';
import { StreamLimits } from './grpc/stream-limits.js';
import { HandOverAlarmSink, handOverControl, type HandOverDeps } from './hand-over.js';
import { HttpServer } from './http.js';
import type { ReloadableTls } from './tls/reloadable.js';

/** How long a follower waits for the leader's answer to a handed-over operator call. */
const HAND_OVER_WAIT_MS = 12_000;
/** How long a follower waits for the leader's outcome of an alarm before answering 202 "queued". */
const ALARM_HAND_OVER_WAIT_MS = 2_000;

/** Where a local client reaches the listeners (loopback when they listen on every interface). */
export interface ControllerAddresses {
  /** Where a client on this machine reaches the listeners (the ready file, the start log). */
  readonly grpc: string;
  readonly http: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** What this controller publishes about itself to others (see advertise.ts). */
  readonly advertised: { readonly grpc: string; readonly http: string };
}

export interface ListenerDeps extends ControllerRecords {
  readonly services: FleetServices;
  readonly revocations: HostRevocations;
  readonly tls: ReloadableTls | undefined;
  /** Writes at a follower go to the leader through this. */
  readonly handOver: HandOverDeps;
  /** The cluster as `flotilla status` shows it (read late: the leadership starts in run()). */
  readonly cluster: () => Promise<ClusterInfo>;
  readonly now: () => number;
  /** Each listener bound registers its close here, so a later failure in create() unbinds it. */
  readonly cleanups: (() => Promise<unknown>)[];
}

export interface Listeners {
  readonly grpc: RunningGrpcServer;
  /** Add routes here (alert webhooks) before or after run(). */
  readonly http: HttpServer;
  readonly addresses: ControllerAddresses;
  /** The Control handlers the leader runs handed-over commands with. */
  readonly control: ReturnType<typeof controlService>;
}

/**
 * Binds the gRPC API (artifacts, control, identity; every call through its guard) and the HTTP
 * listener with the alert webhooks. Writes that reach a follower are handed to the leader.
 */
export async function startListeners(deps: ListenerDeps): Promise<Listeners> {
  const { config, root, store, artifacts, hosts, assignments, metrics, services, revocations, tls, handOver, now, cleanups } = deps;
  const { rollouts, rollbacks, ledger, retention, alarmSink, alarmMetrics } = services;
  const operators = [
    ...config.operators,
    ...(config.apiToken ? [apiTokenOperator(createHash('sha256').update(config.apiToken, 'utf8').digest('hex'))] : []),
  ];
  const policyDeps = {
    authenticate: authenticator({ operators, revocations, open: config.open }),
    hostArtifacts: new HostArtifacts({
      currentAssignment: (hostId) => assignments.current(hostId)?.assignment,
      artifactSha256: async (app, version) => (await artifacts.get(app, version))?.sha256,
    }),
    rolloutSelector: async (id: string) => (await rollouts.get({ id }).catch(() => undefined))?.spec.selector,
  };
  const streamsRefused = new Counter({
    name: 'flotilla_grpc_streams_refused_total',
    help: 'Artifact streams refused at a limit, by which (streams, peer-streams, uploads).',
    labelNames: ['reason'],
    registers: [metrics.registry],
  });
  const control = controlService({
    artifacts,
    apps: store.apps,
    hosts,
    assignments,
    rollouts,
    rollbacks,
    ledger,
    retention,
    keepVersions: config.artifacts.keepVersions,
    logger: root,
    now,
    cluster: deps.cluster,
  });
  const grpc = await startGrpcServer(
    config.grpc.listen,
    {
      artifacts: artifactsService({
        artifacts,
        metrics,
        logger: root,
        downloadChunkBytes: config.artifacts.downloadChunkBytes,
        authorizeUpload: (call, app) => authorize(callerOf(call), { permission: 'push', app }, 'Upload'),
        limits: new StreamLimits(config.limits, (reason) => streamsRefused.inc({ reason })),
        diskRoom: new DiskRoom(artifacts.dir, undefined, config.artifacts.minFreeSpace),
        uploadIdleTimeoutMs: config.limits.uploadIdleTimeoutMs,
        uploadDeadlineMs: config.limits.uploadDeadlineMs,
        downloadStallTimeoutMs: config.limits.downloadStallTimeoutMs,
      }),
      control: {
        ...handOverControl(control, handOver, HAND_OVER_WAIT_MS),
        ...identityService({ revocations, logger: root, now }),
      },
    },
    { guards: { control: controlGuard(policyDeps), artifacts: artifactsGuard(policyDeps) }, tls },
    root.child({ component: 'grpc' }),
  );
  cleanups.push(() => grpc.close(0));
  const http = new HttpServer(root.child({ component: 'http' }));
  for (const r of alertRoutes({
    sink: new HandOverAlarmSink(alarmSink, handOver, ALARM_HAND_OVER_WAIT_MS),
    token: config.alerts.token,
    sources: config.alerts.sources,
    appLabel: config.alerts.appLabel,
    maxBodyBytes: config.alerts.maxBodyBytes,
    logger: root,
    metrics: alarmMetrics,
    now,
  })) {
    http.route(r.method, r.path, r.handler);
  }
  const httpPort = await http.listen(config.http.listen, config.http.tls && tls ? tls : undefined);
  cleanups.push(() => http.close(0));
  const advertisedGrpc = advertisedAddress(config.grpc.listen.host, grpc.port, config.advertise, hostname());
  const advertisedHttp = advertisedAddress(config.http.listen.host, httpPort, config.advertise, hostname());
  if (advertisedGrpc.guessed || advertisedHttp.guessed) {
    root.warn(
      { grpc: advertisedGrpc.address, http: advertisedHttp.address },
      'a listener is on every interface and advertise is not set: publishing this machine\'s name; set advertise if others reach it by another',
    );
  }
  const addresses: ControllerAddresses = Object.freeze({
    grpc: dialableAddress(config.grpc.listen.host, grpc.port),
    http: dialableAddress(config.http.listen.host, httpPort),
    grpcPort: grpc.port,
    httpPort,
    advertised: Object.freeze({ grpc: advertisedGrpc.address, http: advertisedHttp.address }),
  });
  return { grpc, http, addresses, control };
}
