/**
 * Flotilla's small certificate authority: one CA, and leaf certificates that each name one
 * principal (see shared/tls/identity.ts). ECDSA P-256 throughout: every TLS stack Node's OpenSSL
 * talks to accepts it for servers and clients. Built with @peculiar/x509 over Node's webcrypto;
 * no DER is assembled by hand.
 */
// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs this polyfill loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { principalCommonName, principalUri, type CertificatePrincipal } from '@flotilla/shared';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

/** Default lifetimes: short enough that a lost leaf expires on its own; see docs/operations.md. */
export const DEFAULT_DAYS = Object.freeze({ ca: 3650, controller: 90, host: 90, operator: 30 });

/** A certificate and its private key, both PEM. */
export interface IssuedPair {
  readonly certPem: string;
  readonly keyPem: string;
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function randomSerial(): string {
  // Positive (top bit clear) and 16 bytes: unique without a serial database.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] as number) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

/** A self-signed CA that may sign leaves only (path length 0). */
export async function createCa(opts: { name: string; days: number; now: number }): Promise<IssuedPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${opts.name}, O=Flotilla`,
    notBefore: new Date(opts.now - 60_000),
    notAfter: new Date(opts.now + opts.days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export interface LeafRequest {
  readonly principal: CertificatePrincipal;
  /** Extra DNS names and IP addresses (a controller's listen names). */
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  readonly days: number;
  readonly now: number;
}

/** A leaf signed by the CA. A controller's serves TLS and may also dial; others are clients only. */
export async function issueLeaf(ca: IssuedPair, req: LeafRequest): Promise<IssuedPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(ca.keyPem),
    KEY_ALGORITHM,
    false,
    ['sign'],
  );
  const keys = await newKeys();
  const server = req.principal.kind === 'controller';
  const names: x509.JsonGeneralName[] = [{ type: 'url', value: principalUri(req.principal) }];
  for (const d of req.dns ?? []) names.push({ type: 'dns', value: d });
  for (const ip of req.ips ?? []) names.push({ type: 'ip', value: ip });
  const usages = [x509.ExtendedKeyUsage.clientAuth, ...(server ? [x509.ExtendedKeyUsage.serverAuth] : [])];
  const notAfter = Math.min(opts(req).notAfter, caCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${principalCommonName(req.principal)}, O=Flotilla`,
    issuer: caCert.subject,
    notBefore: new Date(req.now - 60_000),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

function opts(req: LeafRequest): { notAfter: number } {
  return { notAfter: req.now + req.days * DAY_MS };
}
