import { appOfRolloutId } from '../rollouts/records.js';
import { targetsOfSelector, type Targets } from './host-scope.js';
import type { Permission } from './roles.js';

/**
 * What a method needs, which app a request is about (undefined: no one app), and which hosts it
 * changes (undefined: none, as for reads and uploads; see host-scope.ts).
 */
export interface MethodRule {
  readonly permission: Permission | 'authenticated';
  readonly appOf: (request: Record<string, unknown>) => string | undefined;
  readonly targetsOf?: (request: Record<string, unknown>) => Targets;
  /**
   * A call about one rollout: when its targets (taken as the whole fleet) are not within the
   * caller's scope, the guard reads the rollout's own selector and judges the call by that
   * (call-policy.ts), so a team scoped to staging can pause or abort its own staging rollout.
   */
  readonly rolloutOf?: (request: Record<string, unknown>) => string | undefined;
}

const text = (v: unknown): string => (typeof v === 'string' ? v.trim() : '');
const byApp = (r: Record<string, unknown>) => text(r['app']) || undefined;
/** A rollout named by id carries its app in the id (web-12); by app, the app itself. */
const byRollout = (r: Record<string, unknown>) => {
  const id = text(r['id']);
  if (id) {
    try {
      return appOfRolloutId(id);
    } catch {
      // A malformed id: the handler refuses it; the check asks for the permission fleet-wide.
      return undefined;
    }
  }
  return byApp(r);
};
const none = () => undefined;
const bySelector = (r: Record<string, unknown>): Targets => targetsOfSelector(typeof r['selector'] === 'string' ? r['selector'] : '');
/** Calls that carry no selector and act on all of an app's hosts (or on hosts of every app). */
const fleet = (): Targets => ({ kind: 'fleet' });
const rolloutIdOf = (r: Record<string, unknown>) => text(r['id']) || undefined;

/**
 * Every method of the Control service and what it needs. A method missing here is refused for
 * every caller (deny by default), so adding an RPC without a rule cannot open it.
 */
export const CONTROL_RULES: Readonly<Record<string, MethodRule>> = Object.freeze({
  ListArtifacts: { permission: 'view', appOf: byApp },
  ListHosts: { permission: 'view', appOf: none },
  GetStatus: { permission: 'view', appOf: byApp },
  GetRollout: { permission: 'view', appOf: byRollout },
  ListRollouts: { permission: 'view', appOf: byApp },
  GetHistory: { permission: 'view', appOf: byApp },
  WatchRollout: { permission: 'view', appOf: byRollout },
  ListEvents: { permission: 'view', appOf: byApp },
  Deploy: { permission: 'deploy', appOf: byApp, targetsOf: bySelector },
  StartRollout: { permission: 'deploy', appOf: byApp, targetsOf: bySelector },
  RolloutCommand: { permission: 'deploy', appOf: byRollout, targetsOf: fleet, rolloutOf: rolloutIdOf },
  Rollback: { permission: 'deploy', appOf: byApp, targetsOf: fleet },
  // Retention never deletes a protected version, so pruning is the artifact owners' job (push).
  // Deleting a version removes it for every host (another scope's next deploy or rollback), so a
  // host-scoped grant may not.
  CollectArtifacts: { permission: 'push', appOf: byApp, targetsOf: fleet },
  RemoveArtifact: { permission: 'push', appOf: byApp, targetsOf: fleet },
  RevokeHost: { permission: 'admin', appOf: none, targetsOf: fleet },
  Whoami: { permission: 'authenticated', appOf: none },
});
