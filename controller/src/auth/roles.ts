import type { HostScope } from './host-scope.js';

/**
 * What an operator may do. A permission is one kind of act; a role is a fixed bundle of them;
 * a grant gives a role over some apps. Kept small on purpose: three roles cover who looks, who
 * ships and who administers; a grant's app list keeps a team to its own apps, and its selector
 * to its own hosts (staging, one zone).
 */
export const PERMISSIONS = ['view', 'push', 'deploy', 'admin'] as const;
/**
 * - view: list and read hosts, apps, artifacts, rollouts, events
 * - push: upload signed artifacts, and delete unprotected ones (artifact gc/rm)
 * - deploy: deploy, start rollouts, pause/resume/promote/abort, roll back
 * - admin: revoke hosts (and whatever later needs the fleet's owner)
 */
export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['viewer', 'deployer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = Object.freeze({
  viewer: ['view'],
  deployer: ['view', 'push', 'deploy'],
  admin: ['view', 'push', 'deploy', 'admin'],
});

/**
 * A role over some apps; `apps: '*'` is every app, present and future. With `hosts`, the role's
 * writes reach only hosts that selector picks (reads are not narrowed); see policy.ts.
 */
export interface RoleGrant {
  readonly role: Role;
  readonly apps: '*' | readonly string[];
  readonly hosts?: HostScope;
}

/** An operator as the controller's config names it. */
export interface OperatorPolicy {
  readonly name: string;
  /** Hex SHA-256 of the operator's token; absent for an operator who uses a certificate only. */
  readonly tokenSha256?: string;
  readonly grants: readonly RoleGrant[];
}
