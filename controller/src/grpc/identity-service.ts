import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { ControlHandlers, RevokeHostRequest__Output, RevokeHostResponse, WhoamiRequest__Output, WhoamiResponse } from '@flotilla/proto';
import type { Logger } from '@flotilla/shared';
import { callerLabel } from '../auth/caller.js';
import type { HostRevocations } from '../auth/revocations.js';
import { callerOf } from './guard.js';
import { toServiceError } from './errors.js';

/** Control's handlers but the two answered here (Omit would keep only the index signature). */
export type OperatorControlHandlers = Pick<
  ControlHandlers,
  | 'ListArtifacts'
  | 'ListHosts'
  | 'GetStatus'
  | 'Deploy'
  | 'StartRollout'
  | 'GetRollout'
  | 'ListRollouts'
  | 'RolloutCommand'
  | 'GetHistory'
  | 'WatchRollout'
  | 'Rollback'
  | 'ListEvents'
  | 'CollectArtifacts'
  | 'RemoveArtifact'
>;

export interface IdentityServiceDeps {
  revocations: Pick<HostRevocations, 'revoke'>;
  logger: Logger;
  now: () => number;
}

/** The Control calls about callers themselves: who am I, and revoke a host. */
export function identityService(deps: IdentityServiceDeps): Pick<ControlHandlers, 'Whoami' | 'RevokeHost'> {
  const logger = deps.logger.child({ component: 'identity-service' });
  return {
    Whoami: (call: ServerUnaryCall<WhoamiRequest__Output, WhoamiResponse>, callback: sendUnaryData<WhoamiResponse>) => {
      const caller = callerOf(call);
      switch (caller.kind) {
        case 'operator':
          return callback(null, {
            kind: 'operator',
            name: caller.name,
            via: caller.via,
            roles: caller.policy.grants.map((g) => ({ role: g.role, apps: g.apps === '*' ? ['*'] : [...g.apps], selector: g.hosts?.text ?? '' })),
          });
        case 'host':
          return callback(null, { kind: 'host', name: caller.hostId, via: 'certificate', roles: [] });
        case 'open':
          return callback(null, { kind: 'open', name: '', via: '', roles: [] });
      }
    },
    RevokeHost: (call: ServerUnaryCall<RevokeHostRequest__Output, RevokeHostResponse>, callback: sendUnaryData<RevokeHostResponse>) => {
      const by = callerLabel(callerOf(call));
      deps.revocations.revoke((call.request.host_id ?? '').trim(), by, deps.now()).then(
        (r) => {
          logger.warn({ hostId: r.hostId, by }, 'host certificate revoked');
          callback(null, { host_id: r.hostId, revoked_at_ms: String(r.revokedAtMs), by: r.by });
        },
        (err: unknown) => callback(toServiceError(err)),
      );
    },
  };
}
