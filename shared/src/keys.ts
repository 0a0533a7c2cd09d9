import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from './errors.js';

/** An Ed25519 public key Flotilla trusts, with its id. */
export interface TrustedKey {
  readonly keyId: string;
  readonly key: KeyObject;
  /** Where it came from (file path or a label), for messages. */
  readonly source: string;
}

/** An Ed25519 private key ready to sign, with the id of its public half. */
export interface SigningKey {
  readonly keyId: string;
  readonly key: KeyObject;
}

/** The first 16 hex digits of the SHA-256 of the public key's SPKI DER encoding. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/** A new Ed25519 pair as PEM: PKCS#8 private, SPKI public (what openssl genpkey writes). */
export function generateKeyPairPem(): { privateKeyPem: string; publicKeyPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    keyId: keyIdOf(publicKey),
  };
}

export function parsePrivateKey(pem: string, source: string): SigningKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new ConfigError(`${source}: not a PEM private key (${errorMessage(err)})`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(`${source}: is a ${key.asymmetricKeyType ?? 'unknown'} key; Flotilla signs with Ed25519`);
  }
  return { key, keyId: keyIdOf(createPublicKey(key)) };
}

export function parsePublicKey(pem: string, source: string): TrustedKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new ConfigError(`${source}: not a PEM public key (${errorMessage(err)})`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(`${source}: is a ${key.asymmetricKeyType ?? 'unknown'} key; Flotilla verifies Ed25519`);
  }
  return { key, keyId: keyIdOf(key), source };
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read key file ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

export function loadPrivateKey(path: string): SigningKey {
  return parsePrivateKey(readKeyFile(path), path);
}

export function loadPublicKey(path: string): TrustedKey {
  return parsePublicKey(readKeyFile(path), path);
}

/** Loads every trusted public key; duplicates (same key id) are kept once. */
export function loadTrustedKeys(paths: readonly string[]): TrustedKey[] {
  const byId = new Map<string, TrustedKey>();
  for (const path of paths) {
    const k = loadPublicKey(path);
    if (!byId.has(k.keyId)) byId.set(k.keyId, k);
  }
  return [...byId.values()];
}
