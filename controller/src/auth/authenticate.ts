import { createHash, timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { UnauthenticatedError, principalFromSubjectAltName } from '@flotilla/shared';
import type { Caller } from './caller.js';
import type { RevocationList } from './revocations.js';
import type { OperatorPolicy } from './roles.js';

/** What the transport tells us about one call. */
export interface CallCredentials {
  /** The client certificate, present only when TLS verified it against the configured CA. */
  readonly peerCertificate?: PeerCertificate | undefined;
  /** The `authorization` metadata value, if any. */
  readonly authorization?: string | undefined;
}

export interface AuthenticatorOptions {
  readonly operators: readonly OperatorPolicy[];
  readonly revocations: RevocationList;
  /** No credentials are configured and the listener may run open (loopback or --insecure). */
  readonly open: boolean;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Establishes who made a call. A token names an operator; a verified certificate names a host
 * or an operator (its URI SAN, see shared/tls/identity.ts). A token wins when both come, so an
 * operator working on a host's machine acts as themself. Anything else is UNAUTHENTICATED unless
 * the controller runs open.
 */
export function authenticator(opts: AuthenticatorOptions): (creds: CallCredentials) => Caller {
  const byToken = opts.operators
    .filter((o) => o.tokenSha256)
    .map((o) => ({ digest: Buffer.from(o.tokenSha256 as string, 'hex'), policy: o }));
  const byName = new Map(opts.operators.map((o) => [o.name, o]));

  return (creds) => {
    if (creds.authorization !== undefined) {
      const m = BEARER.exec(creds.authorization);
      if (!m) throw new UnauthenticatedError('the authorization metadata is not "Bearer <token>"');
      const digest = sha256(m[1] as string);
      // Every entry is compared, whatever matched, so timing does not tell which operator's token is near.
      let found: OperatorPolicy | undefined;
      for (const t of byToken) if (t.digest.length === digest.length && timingSafeEqual(t.digest, digest)) found = t.policy;
      if (!found) throw new UnauthenticatedError('the token is not valid for this controller');
      return { kind: 'operator', name: found.name, policy: found, via: 'token' };
    }
    const cert = creds.peerCertificate;
    if (cert) {
      const principal = principalFromSubjectAltName(cert.subjectaltname);
      if (!principal) throw new UnauthenticatedError('the client certificate names no Flotilla principal (URI flotilla://host/<id> or flotilla://operator/<name>)');
      if (principal.kind === 'host') {
        const notBeforeMs = Date.parse(cert.valid_from);
        const revoked = opts.revocations.revoked(principal.name, Number.isNaN(notBeforeMs) ? 0 : notBeforeMs);
        if (revoked) {
          throw new UnauthenticatedError(`host "${principal.name}" was revoked by ${revoked.by}; issue it a new certificate to readmit it`);
        }
        return { kind: 'host', hostId: principal.name };
      }
      if (principal.kind === 'operator') {
        const policy = byName.get(principal.name);
        if (!policy) throw new UnauthenticatedError(`operator "${principal.name}" has a certificate but is not in this controller's operators list`);
        return { kind: 'operator', name: principal.name, policy, via: 'certificate' };
      }
      throw new UnauthenticatedError(`a ${principal.kind} certificate cannot call the controller's API`);
    }
    if (opts.open) return { kind: 'open' };
    throw new UnauthenticatedError('this controller requires an API token or a client certificate');
  };
}
