import { PermissionDeniedError } from '@flotilla/shared';
import type { CallCredentials } from './authenticate.js';
import type { Caller } from './caller.js';
import type { HostArtifacts } from './host-artifacts.js';
import { targetsOfSelector } from './host-scope.js';
import { CONTROL_RULES } from './methods.js';
import { authorize, authorizeSomewhere } from './policy.js';

/**
 * Decides whether one call may run: its caller, or a throw with the refusal. Synchronous where it
 * can be, so a handler starts as it did without a guard (a client stream's listeners in place at
 * once); a promise only where the answer needs I/O (a host's download).
 */
export type CallGuard = (method: string, creds: CallCredentials, request: Record<string, unknown> | undefined) => Caller | Promise<Caller>;

export interface CallPolicyDeps {
  authenticate(creds: CallCredentials): Caller;
  hostArtifacts: Pick<HostArtifacts, 'allowed'>;
  /** The selector a rollout was started with; undefined for an unknown rollout. */
  rolloutSelector?(id: string): Promise<string | undefined>;
}

/** The Control service's guard: authenticate, then the method's rule (see methods.ts). */
export function controlGuard(deps: CallPolicyDeps): CallGuard {
  return (method, creds, request) => {
    const caller = deps.authenticate(creds);
    const rule = CONTROL_RULES[method];
    if (!rule) throw new PermissionDeniedError(`${method} has no access rule; nobody may call it`);
    if (rule.permission === 'authenticated') return caller;
    const r = request ?? {};
    const need = { permission: rule.permission, app: rule.appOf(r), targets: rule.targetsOf?.(r) };
    const rolloutId = rule.rolloutOf?.(r);
    const lookup = deps.rolloutSelector;
    try {
      authorize(caller, need, method);
      return caller;
    } catch (refused) {
      // Only a host-scoped caller gets here with a chance; the store read happens for it alone,
      // and an unknown rollout (or a failed read) keeps the first refusal.
      if (rolloutId === undefined || lookup === undefined || caller.kind !== 'operator') throw refused;
      return lookup(rolloutId).then(
        (selector) => {
          if (selector === undefined) throw refused;
          authorize(caller, { ...need, targets: targetsOfSelector(selector) }, method);
          return caller;
        },
        () => {
          throw refused;
        },
      );
    }
  };
}

/**
 * The Artifacts service's guard. Upload is admitted with push over some app; the app is named in
 * the stream's first message, and the upload handler checks it then (authorizeUpload) before a
 * byte is stored. Download: a host gets what is (or recently was) assigned to it, an operator
 * needs view.
 */
export function artifactsGuard(deps: CallPolicyDeps): CallGuard {
  return (method, creds, request) => {
    const caller = deps.authenticate(creds);
    if (method === 'Upload') {
      authorizeSomewhere(caller, 'push', method);
    } else if (method === 'Download') {
      if (caller.kind === 'host') {
        const sha256 = typeof request?.['sha256'] === 'string' ? request['sha256'] : '';
        return deps.hostArtifacts.allowed(caller.hostId, sha256).then((allowed) => {
          if (!allowed) {
            throw new PermissionDeniedError(`host "${caller.hostId}" may not download artifact ${sha256}: it is not assigned to it`);
          }
          return caller;
        });
      } else {
        authorize(caller, { permission: 'view' }, method);
      }
    } else {
      throw new PermissionDeniedError(`${method} has no access rule; nobody may call it`);
    }
    return caller;
  };
}
