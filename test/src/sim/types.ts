import type { AppStatusReport, TrustedKey } from '@flotilla/shared';

/** How a simulated host fails a version it is told to install. */
export type SimFailMode =
  | 'install' // the install fails (as a signature or download failure would); the old version keeps running
  | 'unhealthy' // the version activates but its health check fails
  | 'crash-loop'; // the version activates and its process crash-loops

/** A NATS user and the client's TLS files (plain data: it crosses to the simulator's process). */
export interface SimNatsAuth {
  user: string;
  pass: string;
  tls?: { caFile: string; certFile: string; keyFile: string };
}

export interface SimFleetOptions {
  /** `nats://127.0.0.1:PORT`. */
  natsUrl: string;
  /**
   * How the fleet's connections authenticate: a NATS user and TLS files (mutual TLS), as the
   * benchmark's secure plane hands out (bench/secure.ts). @default plaintext, no user
   */
  natsAuth?: SimNatsAuth;
  /** @default 'flotilla' */
  subjectPrefix?: string;
  /**
   * NATS connections the hosts share (host i uses connection i mod n); each carries one wildcard
   * subscription for assignments. @default 1 per 5,000 hosts, at least 2
   */
  connections?: number;
  /** @default 1000 */
  heartbeatIntervalMs?: number;
  /**
   * Send heartbeat ticks between full heartbeats when the controller offers them, as the agent
   * does; false plays agents of the version before ticks (JSON heartbeats only). @default true
   */
  heartbeatTicks?: boolean;
  /** Each heartbeat is sent up to this much early or late (uniform), as timers drift. @default 5% of the interval */
  jitterMs?: number;
  /**
   * From accepting an assignment to reporting the new version running and healthy; the host
   * reports the install under way in between. 0 reports it running and healthy at once. @default 0
   */
  installDelayMs?: number;
  /** Versions every host fails to run, and how. @default none */
  failVersions?: readonly string[];
  /** @default 'install' */
  failMode?: SimFailMode;
  /**
   * The controller's public keys: when given, hosts verify each assignment's signature as the
   * agent does (about 0.1 ms each, all on this process's one thread); otherwise they only parse
   * it and check host and seq. @default none
   */
  controllerKeys?: readonly TrustedKey[];
  /** Sync requests in flight at once while hosts start. @default 64 */
  syncConcurrency?: number;
  /** How long a sync request waits for its reply. @default 5000 */
  syncTimeoutMs?: number;
}

/** A host to add to the fleet. */
export interface SimHostSpec {
  hostId: string;
  labels?: Record<string, string>;
  /** Apps the host already runs (reported running and healthy), app → version. @default none */
  running?: Record<string, string>;
  /**
   * A probe host echoes each heartbeat's send time in `load.memUsedBytes`, so that the
   * controller's view of it (ListHosts: `last_seen_ms` and `load`, both from the same heartbeat)
   * says how long that heartbeat took to reach the controller's state. @default false
   */
  probe?: boolean;
  /**
   * The host serves its apps from two slots behind a weighted balancer (an agent with
   * `traffic.balancer: nginx` and apps that declare slots): it applies each assignment's traffic
   * weight (all of it when the assignment names none) and reports it as `trafficWeight`, as the
   * agent does once nginx accepted the change. @default false
   */
  trafficSlots?: boolean;
}

/** An assignment a host saw, when it saw it, and what it asked for. */
export interface SeenAssignment {
  readonly seq: number;
  /** This process's clock when the message arrived. */
  readonly atMs: number;
  readonly source: 'push' | 'sync';
  /** app → version */
  readonly apps: Readonly<Record<string, string>>;
}

/** When a host first reported a version of an app running and healthy (its heartbeat's send time). */
export interface Activation {
  readonly version: string;
  readonly atMs: number;
  /** The traffic weight on `version` that heartbeat reported (hosts with trafficSlots only). */
  readonly trafficWeight?: number;
}

/** Counters of the whole simulated fleet. */
export interface SimStats {
  readonly hosts: number;
  readonly silent: number;
  readonly connections: number;
  readonly heartbeatsSent: number;
  readonly announcesSent: number;
  readonly assignmentsSeen: number;
  /** Assignments dropped as stale, misaddressed, malformed or (with keys) badly signed. */
  readonly assignmentsRejected: number;
  readonly syncsAnswered: number;
  /** Heartbeats sent later than due by more than the slot length (the simulator falling behind). */
  readonly lateHeartbeats: number;
  /** The latest a heartbeat was sent after it was due, in ms. */
  readonly maxLatenessMs: number;
}

export type { AppStatusReport };
