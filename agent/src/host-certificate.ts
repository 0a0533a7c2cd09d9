import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, assertPrivateKeyFileMode, principalFromSubjectAltName } from '@flotilla/shared';

/**
 * Checks at start that the host's TLS certificate speaks for this host: it names
 * `flotilla://host/<hostId>` and its key is private. A certificate for another host would be
 * refused by the controller on every download; saying so now names the file to fix.
 */
export function checkHostCertificate(tls: { cert: string; key: string }, hostId: string): void {
  assertPrivateKeyFileMode(tls.key, 'controller.tls.key');
  let principal;
  try {
    principal = principalFromSubjectAltName(new X509Certificate(readFileSync(tls.cert)).subjectAltName);
  } catch (err) {
    throw new ConfigError(`controller.tls.cert: cannot read the certificate ${tls.cert}: ${(err as Error).message}`, { cause: err });
  }
  if (!principal || principal.kind !== 'host' || principal.name !== hostId) {
    const named = principal ? `${principal.kind}:${principal.name}` : 'no Flotilla host';
    throw new ConfigError(
      `controller.tls.cert: ${tls.cert} names ${named}, not host:${hostId}; issue one with flotilla tls cert create --host ${hostId}`,
    );
  }
}
