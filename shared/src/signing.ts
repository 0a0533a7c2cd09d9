import { sign, verify } from 'node:crypto';
import { SignatureError } from './errors.js';
import type { SigningKey, TrustedKey } from './keys.js';

/** A payload's exact signed bytes (as UTF-8 text), with the signing key's id and signature. */
export interface Signed {
  /** Canonical JSON text of the payload: exactly what was signed. */
  readonly payload: string;
  readonly keyId: string;
  /** Base64 Ed25519 signature over the payload's UTF-8 bytes. */
  readonly signature: string;
}

export function signPayload(payload: string, signer: SigningKey): Signed {
  const signature = sign(null, Buffer.from(payload, 'utf8'), signer.key).toString('base64');
  return { payload, keyId: signer.keyId, signature };
}

/**
 * Verifies `signed` against the trusted keys and returns the key that verified it. Throws
 * SignatureError naming what failed: no key with that id is trusted, or the signature is wrong.
 */
export function verifyPayload(signed: Signed, trusted: readonly TrustedKey[], what: string): TrustedKey {
  if (!signed.signature) throw new SignatureError(`${what} is unsigned`);
  const sig = Buffer.from(signed.signature, 'base64');
  if (sig.length !== 64) {
    throw new SignatureError(`${what} has a malformed signature (${sig.length} bytes, an Ed25519 signature has 64)`);
  }
  const key = trusted.find((k) => k.keyId === signed.keyId);
  if (!key) {
    throw new SignatureError(
      `${what} is signed by key ${signed.keyId || '(none)'}, which is not trusted (trusted: ${
        trusted.map((k) => k.keyId).join(', ') || 'none'
      })`,
      { details: { keyId: signed.keyId } },
    );
  }
  if (!verify(null, Buffer.from(signed.payload, 'utf8'), key.key, sig)) {
    throw new SignatureError(`${what}: signature does not verify against key ${key.keyId} (${key.source})`, {
      details: { keyId: key.keyId },
    });
  }
  return key;
}
