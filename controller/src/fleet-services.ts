import type { Logger } from '@flotilla/shared';
import { AlarmMetrics, AssignedHostCounts, BuiltinAlarms, alarmPolicyFor } from './alarms/index.js';
import type { AlarmSink } from './alarms/types.js';
import { AppLedger } from './apps/ledger.js';
import type { ArtifactStore } from './artifacts.js';
import type { AssignmentWriter } from './assignments.js';
import type { ControllerConfig } from './config.js';
import type { HostRegistry } from './hosts.js';
import type { ControllerMetrics } from './metrics.js';
import { ArtifactGc, retentionFacts } from './retention/index.js';
import { AlarmHandler } from './reverts/alarm-handler.js';
import { FailedStepReverter } from './reverts/failed-step.js';
import { RevertPath } from './reverts/revert-path.js';
import { Rollbacks } from './reverts/rollback.js';
import { RevertStore } from './reverts/store.js';
import { RolloutManager } from './rollouts/manager.js';
import { RolloutStore, rolloutBuckets } from './rollouts/store.js';
import type { ControllerStore } from './store/store.js';

/** The records the controller opens first, which every part built above them is given. */
export interface ControllerRecords {
  readonly config: ControllerConfig;
  readonly root: Logger;
  readonly store: ControllerStore;
  readonly artifacts: ArtifactStore;
  readonly hosts: HostRegistry;
  readonly assignments: AssignmentWriter;
  readonly metrics: ControllerMetrics;
}

/** What the fleet services are built on: the records below them, opened by the controller. */
export interface FleetServiceDeps extends ControllerRecords {
  readonly now: () => number;
  /** Whether this controller leads now: only the leader collects artifacts. */
  readonly isLeader: () => boolean;
  /** Fault injection for tests: see ControllerDeps.afterRevertRecord. */
  readonly afterRevertRecord?: () => void;
}

/** The services that decide and record what runs where: ledger, rollouts, reverts, alarms, retention. */
export interface FleetServices {
  readonly ledger: AppLedger;
  /** The rollout engine's I/O layer; dormant until this controller leads. */
  readonly rollouts: RolloutManager;
  /** The one revert path: alarms, rollbacks and failed steps all revert through it. */
  readonly reverts: RevertPath;
  /** Where every alarm goes (webhooks, built-in alarms, handed-over alerts). */
  readonly alarmSink: AlarmSink;
  readonly rollbacks: Rollbacks;
  readonly retention: ArtifactGc;
  readonly builtinAlarms: BuiltinAlarms;
  readonly alarmMetrics: AlarmMetrics;
}

/**
 * Builds the fleet services bottom-up (docs/architecture.md): the ledger, the rollouts on it,
 * the revert path on both, and the alarm sources on the revert path. Each is handed the concrete
 * class below it where it names only an interface.
 */
export function buildFleetServices(deps: FleetServiceDeps): FleetServices {
  const { config, root, store, artifacts, hosts, assignments, metrics, now, isLeader } = deps;
  const storeLogger = root.child({ component: 'store' });
  const ledger = new AppLedger({ apps: store.apps, rolloutsKv: store.rollouts, artifacts, logger: storeLogger, now });
  const revertStore = new RevertStore(store.rollouts, storeLogger);
  const revertLogger = root.child({ component: 'reverts' });
  // The rollouts and the revert path need each other: a failed step reverts through the path,
  // which runs its reverts while no rollout of the app starts. The path is built just below.
  let reverts: RevertPath | undefined;
  const failedSteps = new FailedStepReverter({
    reverts: () => reverts as RevertPath,
    logger: revertLogger,
    now,
  });
  // A follower drives nothing; the rollouts resume when it becomes the leader.
  const rollouts = RolloutManager.dormant({
    store: new RolloutStore(rolloutBuckets(store.rollouts, storeLogger)),
    ledger,
    hosts,
    assignments,
    logger: root.child({ component: 'rollouts' }),
    now,
    reverts: failedSteps,
    onTransition: (t) => {
      metrics.rolloutTransitions.observe({ phase: 'decide' }, t.decideMs / 1000);
      metrics.rolloutTransitions.observe({ phase: 'persist' }, t.persistMs / 1000);
      metrics.rolloutTransitions.observe({ phase: 'act' }, t.actMs / 1000);
      metrics.rolloutTransitions.observe({ phase: 'total' }, (t.decideMs + t.persistMs + t.actMs) / 1000);
    },
  });
  reverts = new RevertPath({
    store: revertStore,
    ledger,
    assignments,
    rollouts,
    logger: revertLogger,
    now,
    ...(deps.afterRevertRecord ? { afterRecordWritten: deps.afterRevertRecord } : {}),
  });
  const alarmSink = new AlarmHandler({
    rollouts,
    ledger,
    reverts,
    logger: revertLogger,
    revertOutsideWatchWindow: (app) => alarmPolicyFor(config.alarms, app).revertOutsideWatchWindow,
    now,
  });
  const rollbacks = new Rollbacks({ rollouts, ledger, reverts, assignments, logger: revertLogger, now });
  const retention = new ArtifactGc({
    artifacts,
    facts: retentionFacts({ ledger, assignments, rollouts }),
    keepVersions: config.artifacts.keepVersions,
    intervalMs: config.artifacts.gcIntervalMs,
    leads: isLeader,
    logger: root.child({ component: 'retention' }),
  });
  const alarmMetrics = new AlarmMetrics(metrics.registry);
  const assignedCounts = new AssignedHostCounts(
    { hostIds: () => assignments.hostIds(), appsOf: (hostId) => Object.keys(assignments.current(hostId)?.assignment.apps ?? {}) },
    now,
  );
  const builtinAlarms = new BuiltinAlarms({
    feed: hosts,
    assignments: {
      assignedVersion: (hostId, app) => {
        const apps = assignments.current(hostId)?.assignment.apps;
        return apps !== undefined && Object.hasOwn(apps, app) ? apps[app]?.version : undefined;
      },
      hostsAssigned: (app) => assignedCounts.hostsAssigned(app),
    },
    sink: alarmSink,
    config: config.alarms,
    logger: root,
    metrics: alarmMetrics,
    now,
  });
  return { ledger, rollouts, reverts, alarmSink, rollbacks, retention, builtinAlarms, alarmMetrics };
}
