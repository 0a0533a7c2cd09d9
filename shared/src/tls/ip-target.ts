import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

/** A TLS server name that is no IP address, sent when the controller is dialled by IP. */
export const IP_TARGET_SERVERNAME = 'flotilla-controller';

/**
 * TLS settings for dialling the controller at `address` (HOST:PORT). Node warns when the SNI
 * server name is an IP address (RFC 6066 forbids it), and gRPC sends the target's host as SNI;
 * for an IP target we send a fixed name instead and still check the certificate against the IP
 * itself, so a certificate is accepted only if it names that address.
 */
export function ipTargetTls(address: string): { servernameOverride: string; checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined } | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\]:\d+$|^([0-9.]+):\d+$/.exec(address.trim());
  const ip = m ? (m[1] ?? m[2] ?? '') : '';
  if (!ip || isIP(ip) === 0) return undefined;
  return { servernameOverride: IP_TARGET_SERVERNAME, checkServerIdentity: (_host, cert) => checkServerIdentity(ip, cert) };
}
