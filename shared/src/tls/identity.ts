/**
 * Who a certificate speaks for. Every Flotilla certificate names exactly one principal in a URI
 * subject alternative name, `flotilla://<kind>/<name>`, and repeats it as the subject's common
 * name (`<kind>:<name>`) for people reading it with openssl. The controller derives a caller from
 * the verified URI only; the NATS side binds a host's user to the same `host:<id>` name.
 */
import { ValidationError } from '../errors.js';

export const PRINCIPAL_KINDS = ['host', 'operator', 'controller'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

export interface CertificatePrincipal {
  readonly kind: PrincipalKind;
  readonly name: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const URI = /^flotilla:\/\/(host|operator|controller)\/([A-Za-z0-9][A-Za-z0-9._-]{0,62})$/;

export function assertPrincipalName(name: string, what: string): string {
  if (!NAME.test(name)) {
    throw new ValidationError(`${what} "${name}" must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return name;
}

export function principalUri(p: CertificatePrincipal): string {
  return `flotilla://${p.kind}/${p.name}`;
}

export function principalCommonName(p: CertificatePrincipal): string {
  return `${p.kind}:${p.name}`;
}

/** The actor string the event log records: `host:web-01`, `operator:alice`. */
export function principalLabel(p: CertificatePrincipal): string {
  return `${p.kind}:${p.name}`;
}

/**
 * The principal a certificate's subjectAltName (Node's `PeerCertificate.subjectaltname` text,
 * e.g. `DNS:ctl, URI:flotilla://host/web-01`) names, or undefined when it names none or more
 * than one: an ambiguous certificate speaks for nobody.
 */
export function principalFromSubjectAltName(subjectAltName: string | undefined): CertificatePrincipal | undefined {
  if (!subjectAltName) return undefined;
  const found: CertificatePrincipal[] = [];
  for (const part of subjectAltName.split(/,\s*/)) {
    if (!part.startsWith('URI:')) continue;
    const m = URI.exec(part.slice(4));
    if (m) found.push({ kind: m[1] as PrincipalKind, name: m[2] as string });
  }
  return found.length === 1 ? found[0] : undefined;
}
