import { createHash, timingSafeEqual } from 'node:crypto';
import type {
  Metadata,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { UnauthenticatedError } from '@flotilla/shared';
import { toServiceError } from './errors.js';

/** Checks a call's metadata; throws UnauthenticatedError when it may not proceed. */
export type AuthCheck = (metadata: Metadata) => void;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The bearer-token check. Without a configured token every call passes. Tokens are compared as
 * SHA-256 digests with timingSafeEqual: equal lengths whatever the caller sent, and no early
 * exit that would tell an attacker how much of a guess was right.
 */
export function bearerTokenCheck(token: string | undefined): AuthCheck {
  if (!token) return () => undefined;
  const expected = digest(token);
  return (metadata) => {
    const header = metadata.get('authorization')[0];
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) {
      throw new UnauthenticatedError('this controller requires an API token: send metadata "authorization: Bearer <token>"');
    }
    if (!timingSafeEqual(digest(m[1] as string), expected)) {
      throw new UnauthenticatedError('the API token is not valid for this controller');
    }
  };
}

type AnyHandler =
  | handleUnaryCall<unknown, unknown>
  | handleClientStreamingCall<unknown, unknown>
  | handleServerStreamingCall<unknown, unknown>;

/**
 * Wraps every handler of a service so that it runs only after `check` passed. A refused unary
 * or client-streaming call gets its status through the callback, a server-streaming one through
 * an 'error' event (which grpc-js turns into the final status).
 */
export function withAuth<T extends UntypedServiceImplementation>(handlers: T, check: AuthCheck): T {
  const guarded: Record<string, AnyHandler> = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const h = handler as (call: { metadata: Metadata; emit(e: 'error', err: unknown): boolean }, callback?: (err: unknown) => void) => unknown;
    guarded[name] = ((call: { metadata: Metadata; emit(e: 'error', err: unknown): boolean }, callback?: (err: unknown) => void) => {
      try {
        check(call.metadata);
      } catch (err) {
        if (callback) callback(toServiceError(err));
        else call.emit('error', toServiceError(err));
        return;
      }
      return h(call, callback);
    }) as unknown as AnyHandler;
  }
  return guarded as unknown as T;
}
