import { PermissionDeniedError } from '@flotilla/shared';
import type { Caller } from './caller.js';
import { ROLE_PERMISSIONS, type Permission, type RoleGrant } from './roles.js';

/** What one call needs: a permission, over one app or (app undefined) over no app in particular. */
export interface Need {
  readonly permission: Permission;
  readonly app?: string | undefined;
}

function grantCovers(grant: RoleGrant, need: Need): boolean {
  if (!ROLE_PERMISSIONS[grant.role].includes(need.permission)) return false;
  if (grant.apps === '*') return true;
  // A call about no one app (list everything, revoke a host) needs the permission fleet-wide;
  // a call about one app needs it for that app.
  return need.app !== undefined && grant.apps.includes(need.app);
}

/**
 * Whether `caller` may do what `need` asks. Pure. Throws PermissionDeniedError naming the
 * missing permission; hosts hold no operator permission at all.
 */
export function authorize(caller: Caller, need: Need, method: string): void {
  if (caller.kind === 'open') return;
  const where = need.app !== undefined ? ` on app "${need.app}"` : ' on every app';
  if (caller.kind === 'host') {
    throw new PermissionDeniedError(`host "${caller.hostId}" may not call ${method}: host certificates reach only artifact downloads`);
  }
  if (caller.policy.grants.some((g) => grantCovers(g, need))) return;
  const roles = caller.policy.grants.map((g) => `${g.role}(${g.apps === '*' ? '*' : g.apps.join(',')})`).join(' ') || 'none';
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
