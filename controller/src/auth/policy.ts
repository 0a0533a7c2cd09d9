import { PermissionDeniedError } from '@flotilla/shared';
import type { Caller } from './caller.js';
import { withinScope, type Targets } from './host-scope.js';
import { ROLE_PERMISSIONS, type Permission, type RoleGrant } from './roles.js';

/**
 * What one call needs: a permission, over one app or (app undefined) over no app in particular,
 * and the hosts it changes (targets undefined: none, as for reads and uploads).
 */
export interface Need {
  readonly permission: Permission;
  readonly app?: string | undefined;
  readonly targets?: Targets | undefined;
}

/** Whether `grant` gives the permission over the app, leaving its host scope aside. */
function grantReaches(grant: RoleGrant, need: Need): boolean {
  if (!ROLE_PERMISSIONS[grant.role].includes(need.permission)) return false;
  if (grant.apps === '*') return true;
  // A call about no one app (list everything, revoke a host) needs the permission fleet-wide;
  // a call about one app needs it for that app.
  return need.app !== undefined && grant.apps.includes(need.app);
}

/**
 * A grant scoped to some hosts covers a call that changes no host (reads are not narrowed: a
 * team scoped to staging still sees how production runs) and a call whose targets lie within
 * its scope; nothing else.
 */
function grantCovers(grant: RoleGrant, need: Need): boolean {
  if (!grantReaches(grant, need)) return false;
  if (grant.hosts === undefined || need.targets === undefined) return true;
  return withinScope(need.targets, grant.hosts);
}

/** A grant as refusals and whoami name it: `deployer(web; hosts env=staging)`. */
export function describeGrant(grant: RoleGrant): string {
  const apps = grant.apps === '*' ? '*' : grant.apps.join(',');
  return `${grant.role}(${apps}${grant.hosts ? `; hosts ${grant.hosts.text}` : ''})`;
}

function describeTargets(targets: Targets | undefined): string {
  if (targets?.kind === 'selector') {
    return targets.terms.length === 0 ? 'every host (empty selector)' : 'the hosts its selector picks';
  }
  return "all of the app's hosts";
}

/**
 * Whether `caller` may do what `need` asks. Pure. Throws PermissionDeniedError naming the
 * missing permission, or the host scope the call does not fit; hosts hold no operator permission.
 */
export function authorize(caller: Caller, need: Need, method: string): void {
  if (caller.kind === 'open') return;
  const where = need.app !== undefined ? ` on app "${need.app}"` : ' on every app';
  if (caller.kind === 'host') {
    throw new PermissionDeniedError(`host "${caller.hostId}" may not call ${method}: host certificates reach only artifact downloads`);
  }
  const grants = caller.policy.grants;
  if (grants.some((g) => grantCovers(g, need))) return;
  const scoped = grants.filter((g) => grantReaches(g, need));
  if (scoped.length > 0) {
    const scopes = scoped.map((g) => `"${g.hosts?.text ?? ''}"`).join(' or ');
    throw new PermissionDeniedError(
      `operator "${caller.name}" holds "${need.permission}"${where} only on hosts selected by ${scopes}; ` +
        `${method} reaches ${describeTargets(need.targets)}, which is not within that scope ` +
        '(give a selector holding every term of the scope, or ask for an unscoped grant)',
    );
  }
  const roles = grants.map(describeGrant).join(' ') || 'none';
  throw new PermissionDeniedError(
    `operator "${caller.name}" lacks permission "${need.permission}"${where} for ${method} (roles: ${roles})`,
  );
}

/**
 * Whether `caller` holds `permission` over at least one app: the admission check for a call whose
 * app is named only later (an upload names it in its first message); `authorize` then checks the app.
 */
export function authorizeSomewhere(caller: Caller, permission: Permission, method: string): void {
  if (caller.kind === 'operator' && caller.policy.grants.some((g) => ROLE_PERMISSIONS[g.role].includes(permission))) return;
  authorize(caller, { permission }, method);
}
