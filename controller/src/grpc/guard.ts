import type { Metadata, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { PermissionDeniedError } from '@flotilla/shared';
import type { Caller } from '../auth/caller.js';
import type { CallCredentials } from '../auth/authenticate.js';
import type { CallGuard } from '../auth/call-policy.js';
import { toServiceError } from './errors.js';

export type { CallGuard };

interface GuardedCall {
  metadata: Metadata;
  request?: Record<string, unknown>;
  getAuthContext?(): { sslPeerCertificate?: PeerCertificate } | null;
  emit(e: 'error', err: unknown): boolean;
}

const callers = new WeakMap<object, Caller>();

/** The caller the guard established for `call` (handlers that answer about the caller use it). */
export function callerOf(call: object): Caller {
  const c = callers.get(call);
  if (!c) throw new PermissionDeniedError('no authenticated caller for this call');
  return c;
}

function credentialsOf(call: GuardedCall): CallCredentials {
  const header = call.metadata.get('authorization')[0];
  return {
    peerCertificate: call.getAuthContext?.()?.sslPeerCertificate,
    authorization: typeof header === 'string' ? header : undefined,
  };
}

/**
 * Wraps every handler of a service so it runs only once `guard` let the call through. Unary and
 * server-streaming requests are checked with their request; a client stream (upload) before its
 * first message, synchronously, so the handler's listeners are in place as without a guard. A
 * refusal ends the call with its status and the handler never sees it, so a refused call changes
 * nothing. The caller's name replaces any `actor` the request carried: the audit trail records
 * who authenticated, not who the caller said it was.
 */
export function withGuard<T extends UntypedServiceImplementation>(handlers: T, guard: CallGuard): T {
  const guarded: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const h = handler as (call: GuardedCall, callback?: (err: unknown) => void) => unknown;
    guarded[name] = (call: GuardedCall, callback?: (err: unknown) => void) => {
      const refuse = (err: unknown) => {
        if (callback) callback(toServiceError(err));
        else call.emit('error', toServiceError(err));
      };
      const admit = (caller: Caller) => {
        callers.set(call, caller);
        if (caller.kind === 'operator' && call.request && 'actor' in call.request) call.request['actor'] = caller.name;
        h(call, callback);
      };
      let decided: Caller | Promise<Caller>;
      try {
        decided = guard(name, credentialsOf(call), call.request);
      } catch (err) {
        refuse(err);
        return;
      }
      if (decided instanceof Promise) decided.then(admit, refuse);
      else admit(decided);
    };
  }
  return guarded as T;
}
