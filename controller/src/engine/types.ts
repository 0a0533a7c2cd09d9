import type { AppStatusReport, HealthState, InstallPhase, ProcessState } from '@flotilla/shared';

/**
 * How many hosts a step takes: a count, or a percentage of the WHOLE selection (never of what is
 * left), rounded up so that a step is never empty.
 */
export type StepSize = { kind: 'count'; value: number } | { kind: 'percent'; value: number };

/**
 * How the selection is cut into steps. The first step is always the canary.
 * - `batches`: a canary, then batches of a fixed size until every host is reached.
 * - `steps`: cumulative targets (`1,10%,50%,100%` means reach 1 host, then 10% of the hosts, ...);
 *   a final 100% is implied when the list stops short of it.
 */
export type RolloutStrategy =
  | { kind: 'batches'; canary: StepSize; batch: StepSize }
  | { kind: 'steps'; steps: StepSize[] };

/** Everything a rollout was asked to do, fully defaulted (see `makeRolloutSpec`). Plain JSON. */
export interface RolloutSpec {
  app: string;
  version: string;
  /** The selector text the operator gave; '' selects every host. Resolved to hosts at start. */
  selector: string;
  strategy: RolloutStrategy;
  /** Label whose values each batch should span. @default 'zone' */
  spreadBy: string;
  /** A host passes after reporting the target active, running and healthy this long. @default 10s */
  minHealthyTimeMs: number;
  /** A host that has not passed this long after its assignment has failed. @default 5m */
  healthyDeadlineMs: number;
  /** Wait after each batch passes before the next starts. @default 0 */
  bakeMs: number;
  /** Wait after the canary passes. @default the value of bakeMs */
  canaryBakeMs: number;
  /** Failed hosts tolerated; a percentage is of the whole selection, rounded down. @default 0 */
  maxFailures: StepSize;
  /** Hold after the canary (and its bake) until an operator promotes. @default false */
  pauseAfterCanary: boolean;
  /** Stabilisation window after the last step before the version is marked stable. @default 0 */
  stableAfterMs: number;
  /** Revert touched hosts to the stable version on failure; off leaves them as they are. @default true */
  autoRevert: boolean;
  /** A host under observation that restarted more than this many times has failed. @default 3 */
  crashLoopRestarts: number;
  /** How long after success alarms still revert (used by the alarm sources). @default 10m */
  watchWindowMs: number;
  /** Who started the rollout (operator name, or a CI job's). */
  createdBy: string;
  /**
   * Traffic steps for an app served from two slots: the canary's hosts run the new release beside
   * the old one and get these percents of the requests in turn (the last is 100), each gated like
   * a step, before the batches go on. Absent: no traffic steps (and in states older than them).
   */
  traffic?: number[];
}

/** Input accepted by `makeRolloutSpec`: flag-shaped, durations as text ('30s') or milliseconds. */
export interface RolloutSpecInput {
  app: string;
  version: string;
  selector?: string;
  /** `N` or `P%`. @default 1 */
  canary?: string | number;
  /** `N` or `P%`. @default '25%' */
  batch?: string | number;
  /** Explicit cumulative steps, as a list or as text `1,10%,50%,100%`; excludes canary/batch. */
  steps?: string | ReadonlyArray<string | number>;
  spreadBy?: string;
  minHealthyTime?: string | number;
  healthyDeadline?: string | number;
  bake?: string | number;
  canaryBake?: string | number;
  maxFailures?: string | number;
  pauseAfterCanary?: boolean;
  stableAfter?: string | number;
  autoRevert?: boolean;
  crashLoopRestarts?: number;
  watchWindow?: string | number;
  createdBy: string;
  /** Traffic steps as text `5%,25%,50%,100%` or a list; a final 100% is implied. */
  traffic?: string | ReadonlyArray<string | number>;
}

/** A host as the planner sees it. */
export interface PlanHost {
  hostId: string;
  labels: Readonly<Record<string, string>>;
}

/** Where a rollout is. Active: running, baking, paused, stabilising, reverting. */
export type RolloutStatus =
  /** A step's hosts are assigned and being watched until each passes or fails. */
  | 'running'
  /** The current step passed; waiting out its bake before the next step starts. */
  | 'baking'
  /** No new step starts (operator pause, or the canary gate); hosts are still watched. */
  | 'paused'
  /** Every step passed; waiting out the stabilisation window before marking the version stable. */
  | 'stabilising'
  /** Revert assignments were issued; waiting for the writes to be acknowledged. */
  | 'reverting'
  /** Finished: every host reached, the version is now the app's stable version. */
  | 'succeeded'
  /** Finished: every touched host was sent back to the stable version. */
  | 'reverted'
  /** Finished: stopped without a revert (no stable version yet, or auto-revert off). */
  | 'failed'
  /** Finished: an operator aborted and hosts were left as they are. */
  | 'aborted';

export const FINISHED_STATUSES: readonly RolloutStatus[] = ['succeeded', 'reverted', 'failed', 'aborted'];

/** Where one host is within a rollout. */
export type HostState =
  /** In a later step; nothing done to it yet. */
  | 'pending'
  /** Told to run the target; not (yet) reporting it active, running and healthy. */
  | 'assigned'
  /** Reports the target active, running and healthy; waiting out the minimum healthy time. */
  | 'healthy-wait'
  /** Healthy for the minimum time; still watched until the rollout ends. */
  | 'passed'
  /** Failed (see failureReason); counted against maxFailures. */
  | 'failed'
  /** Left the fleet before its step started; never touched, not counted. */
  | 'skipped'
  /** Told to go back to the stable version; waiting for the write to be acknowledged. */
  | 'reverting'
  /** Its assignment points at the stable version again. */
  | 'reverted';

/** The parts of a host's last status report that decisions and the status view use. */
export interface ReportSummary {
  activeVersion: string | null;
  processState: ProcessState;
  health: HealthState;
  installPhase: InstallPhase;
  restarts: number;
  error: string | null;
  /** Percent of the app's requests on activeVersion, for an app served from two slots. */
  trafficWeight?: number;
}

export interface HostProgress {
  hostId: string;
  /** Index of the step this host belongs to. */
  step: number;
  state: HostState;
  /** When the engine decided to assign it (the healthy deadline counts from here). */
  assignedAtMs: number | null;
  /** When an assign action for it was last emitted (for retries of unacknowledged writes). */
  assignSentAtMs: number | null;
  /** When the assignment write was acknowledged, or a report showed it. */
  assignAckedAtMs: number | null;
  /** Since when it has been reporting the target active, running and healthy. */
  healthySinceMs: number | null;
  /** A passed host that stopped being healthy: since when. */
  unhealthySinceMs: number | null;
  passedAtMs: number | null;
  failedAtMs: number | null;
  failureReason: string | null;
  revertSentAtMs: number | null;
  revertedAtMs: number | null;
  /** The host was last reported down (silent). */
  down: boolean;
  /** The host left the fleet (or the selection). */
  removed: boolean;
  lastReport: ReportSummary | null;
}

export interface StepProgress {
  index: number;
  hostIds: string[];
  /** Hosts reached once this step is done (cumulative). */
  targetCount: number;
  startedAtMs: number | null;
  /** When its last host passed or failed. */
  passedAtMs: number | null;
  /** When its bake ends (set when it passes, unless it is the last step). */
  bakeUntilMs: number | null;
}

export type Actor = `operator:${string}` | 'engine' | `alarm:${string}` | `host:${string}`;

export type RolloutLogKind =
  | 'started'
  | 'step-started'
  | 'step-passed'
  | 'assign-retried'
  | 'host-failed'
  | 'host-skipped'
  | 'canary-gate'
  | 'paused'
  | 'resumed'
  | 'promoted'
  | 'alarm'
  | 'stabilising'
  | 'succeeded'
  | 'revert-started'
  | 'revert-retried'
  | 'reverted'
  | 'failed'
  | 'aborted';

export interface RolloutLogEntry {
  atMs: number;
  kind: RolloutLogKind;
  actor: Actor;
  message: string;
  details: Record<string, unknown>;
}

export interface RolloutCounters {
  hosts: number;
  pending: number;
  /** Assigned and not yet passed or failed. */
  inProgress: number;
  passed: number;
  /** Hosts that failed at some point (including those since reverted). */
  failed: number;
  skipped: number;
  reverting: number;
  reverted: number;
}

export type PauseReason =
  /** An operator paused; `resume` (or `promote`) continues. */
  | 'operator'
  /** pauseAfterCanary: the canary passed; only `promote` continues. */
  | 'canary';

/** The whole persisted state of one rollout: plain JSON, every time absolute ms. */
export interface RolloutState {
  /** Shape version of this record, for later migrations. */
  schema: 1;
  id: string;
  spec: RolloutSpec;
  status: RolloutStatus;
  /** The version a revert goes back to; null for an app's first release. */
  stableVersion: string | null;
  /** Size of the selection at start; percentages of maxFailures are of this. */
  hostCount: number;
  /** Failed hosts tolerated (maxFailures resolved against hostCount). */
  failureLimit: number;
  steps: StepProgress[];
  /** Index of the step in progress (or last started). */
  currentStep: number;
  /**
   * Every selected host, in plan order (step by step); look one up with `findHost`. Read-only:
   * in states the engine hands out it is a view of its host table, built on first read.
   */
  hosts: readonly HostProgress[];
  pause: { reason: PauseReason; atMs: number; by: Actor } | null;
  /** When the canary gate was lifted by `promote`. */
  promotedAtMs: number | null;
  stabiliseUntilMs: number | null;
  /** The next time a tick can change anything (what the last schedule action asked for). */
  wakeAtMs: number | null;
  counters: RolloutCounters;
  createdAtMs: number;
  /** Last time the state changed; later events never move the clock back before it. */
  updatedAtMs: number;
  finishedAtMs: number | null;
  /** Why it ended (or is reverting), in words for operators. */
  endReason: string | null;
  endedBy: Actor | null;
  /** The most recent LOG_KEPT entries, oldest first. */
  log: RolloutLogEntry[];
  /** Entries that fell off the front of `log`. */
  logDropped: number;
  /** Index into spec.traffic the canary's hosts are at; absent means the first. */
  trafficStep?: number;
}

/** What the I/O layer feeds the engine. Every event carries the controller's clock. */
export type RolloutEvent =
  /** A timer fired (or the controller restarted and reloaded the state). */
  | { kind: 'tick'; nowMs: number }
  /** A host's status for this app; null when the host went silent (marked down). */
  | { kind: 'host-report'; hostId: string; report: AppStatusReport | null; nowMs: number }
  /** The host left the fleet or no longer matches the selector. */
  | { kind: 'host-removed'; hostId: string; nowMs: number }
  | {
      kind: 'operator';
      command: 'pause' | 'resume' | 'promote' | 'abort';
      /** abort only: leave hosts as they are. */
      noRevert?: boolean;
      actor: `operator:${string}`;
      nowMs: number;
    }
  /** An alert webhook or a built-in health alarm fired for this app. */
  | { kind: 'alarm'; source: string; reason: string; nowMs: number }
  /** The I/O layer wrote the hosts' assignments to `version` (ack of assign or revert). */
  | { kind: 'assigned'; hostIds: string[]; version: string; nowMs: number };

/** The share of requests a host's assignment puts on the target version, beside the old one. */
export interface TrafficTarget {
  weight: number;
  /** Stop the release beside once at 100%. */
  retire?: boolean;
}

/** What the engine asks the I/O layer to do, in order, after persisting the new state. */
export type RolloutAction =
  /** Set these hosts' desired version of the app (idempotent: no change if already so). */
  | { kind: 'assign'; app: string; hostIds: string[]; version: string; traffic?: TrafficTarget }
  /** Same, back to the stable version, all at once; no gates. */
  | { kind: 'revert'; app: string; hostIds: string[]; version: string }
  /** Record `version` as the app's stable version. */
  | { kind: 'mark-stable'; app: string; version: string }
  /** Call `decide` with a tick at (or after) this time; replaces any earlier wake-up. */
  | { kind: 'schedule'; atMs: number }
  /** The rollout reached a final status. */
  | { kind: 'finished'; status: RolloutStatus; reason: string }
  /** An operator command was refused; the state is unchanged. */
  | { kind: 'rejected'; message: string };

export interface Decision {
  state: RolloutState;
  actions: RolloutAction[];
}
