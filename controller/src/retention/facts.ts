import type { AppLedger } from '../apps/ledger.js';
import type { AssignmentWriter } from '../assignments.js';
import type { RolloutManager } from '../rollouts/manager.js';

/** An app's active rollout as retention sees it: the version it moves to and the one it reverts to. */
export interface ActiveRolloutVersions {
  id: string;
  target: string;
  /** The stable version a revert would send its hosts back to; null for an app's first release. */
  source: string | null;
}

/**
 * What artifact retention asks of the rest of the controller: the few facts that protect a
 * version, each from its one owner (the app ledger for stable and previous stable, the
 * assignments, the rollouts), and the app lock that keeps a rollout from starting on a version
 * while it is being deleted.
 */
export interface RetentionFacts {
  /** The app's stable and previous stable versions, as the app ledger holds them. */
  stableVersions(app: string): Promise<{ stable: string | null; previousStable: string | null }>;
  /** For each version of the app that some host is assigned: those hosts, sorted. */
  assignedHosts(app: string): Map<string, string[]>;
  activeRollout(app: string): ActiveRolloutVersions | null;
  /** Runs `fn` while no rollout or revert of the app can start. */
  exclusive<T>(app: string, fn: () => Promise<T>): Promise<T>;
}

/** The facts from the controller's own ledger, assignments and rollouts. */
export function retentionFacts(deps: {
  ledger: Pick<AppLedger, 'record'>;
  assignments: Pick<AssignmentWriter, 'hostIds' | 'current'>;
  rollouts: Pick<RolloutManager, 'activeRollout' | 'exclusive'>;
}): RetentionFacts {
  return {
    async stableVersions(app) {
      const record = await deps.ledger.record(app);
      return { stable: record?.stableVersion ?? null, previousStable: record?.previousStableVersion ?? null };
    },
    assignedHosts(app) {
      const byVersion = new Map<string, string[]>();
      for (const hostId of [...deps.assignments.hostIds()].sort()) {
        const version = deps.assignments.current(hostId)?.assignment.apps[app]?.version;
        if (version === undefined) continue;
        byVersion.set(version, [...(byVersion.get(version) ?? []), hostId]);
      }
      return byVersion;
    },
    activeRollout(app) {
      const state = deps.rollouts.activeRollout(app);
      return state ? { id: state.id, target: state.spec.version, source: state.stableVersion } : null;
    },
    exclusive: (app, fn) => deps.rollouts.exclusive(app, fn),
  };
}
