import type { OperatorPolicy } from './roles.js';

/**
 * Who made a call, as the controller established it: from the verified TLS client certificate
 * or a token, never from anything the caller wrote into its request.
 */
export type Caller =
  | { readonly kind: 'operator'; readonly name: string; readonly policy: OperatorPolicy; readonly via: 'token' | 'certificate' }
  | { readonly kind: 'host'; readonly hostId: string }
  /** Open mode only (loopback without credentials configured, or --insecure). */
  | { readonly kind: 'open' };

export function callerLabel(caller: Caller): string {
  switch (caller.kind) {
    case 'operator':
      return `operator:${caller.name}`;
    case 'host':
      return `host:${caller.hostId}`;
    case 'open':
      return 'open';
  }
}
