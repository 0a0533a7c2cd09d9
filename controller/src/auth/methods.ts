import { appOfRolloutId } from '../rollouts/records.js';
import type { Permission } from './roles.js';

/** What a method needs, and which app a request is about (undefined: no one app). */
export interface MethodRule {
  readonly permission: Permission | 'authenticated';
  readonly appOf: (request: Record<string, unknown>) => string | undefined;
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
  Deploy: { permission: 'deploy', appOf: byApp },
  StartRollout: { permission: 'deploy', appOf: byApp },
  RolloutCommand: { permission: 'deploy', appOf: byRollout },
  Rollback: { permission: 'deploy', appOf: byApp },
  // Retention never deletes a protected version, so pruning is the artifact owners' job (push).
  CollectArtifacts: { permission: 'push', appOf: byApp },
  RemoveArtifact: { permission: 'push', appOf: byApp },
  RevokeHost: { permission: 'admin', appOf: none },
  Whoami: { permission: 'authenticated', appOf: none },
});
