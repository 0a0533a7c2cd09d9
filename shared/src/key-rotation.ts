import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { SignatureError, ValidationError } from './errors.js';
import { keyIdOf, parsePublicKey, type SigningKey, type TrustedKey } from './keys.js';
import { signPayload, verifyPayload, type Signed } from './signing.js';

export const KEY_ROTATION_TYPE = 'flotilla.controller-key/v1';

/**
 * "From epoch `epoch` on, the controller signs with this key": signed by the key of the epoch
 * before, so an agent that trusts that key can move to the new one without anyone touching its
 * configuration. The statements of a controller form a chain, one per rotation.
 */
export interface KeyRotationStatement {
  readonly type: typeof KEY_ROTATION_TYPE;
  readonly epoch: number;
  readonly keyId: string;
  /** The new public key, SPKI PEM. */
  readonly publicKey: string;
  /** The key of epoch `epoch - 1`, which signs this statement. */
  readonly previousKeyId: string;
  readonly issuedAtMs: number;
}

/** The controller keys an agent trusts now, and their epoch. */
export interface ControllerTrust {
  readonly epoch: number;
  readonly keys: readonly TrustedKey[];
}

const statementSchema = z
  .object({
    type: z.literal(KEY_ROTATION_TYPE),
    epoch: z.number().int().min(2).max(1_000_000),
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
    publicKey: z.string().min(1).max(4096),
    previousKeyId: z.string().regex(/^[0-9a-f]{16}$/),
    issuedAtMs: z.number().int().nonnegative(),
  })
  .strict();

export function parseKeyRotation(json: string): KeyRotationStatement {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ValidationError('key rotation statement is not valid JSON');
  }
  const r = statementSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ValidationError(
      `key rotation statement is invalid: ${issue ? `${issue.path.join('.') || '(root)'} ${issue.message}` : 'unknown problem'}`,
    );
  }
  return r.data as KeyRotationStatement;
}

/** True when a signed payload claims to be a rotation statement (the assign subject carries both). */
export function isKeyRotation(signed: Signed): boolean {
  // Cheap first: assignments, the usual case, never carry this text at their top level.
  if (!signed.payload.includes(KEY_ROTATION_TYPE)) return false;
  try {
    return (JSON.parse(signed.payload) as { type?: unknown }).type === KEY_ROTATION_TYPE;
  } catch {
    return false;
  }
}

/** The statement moving trust from `previous` (epoch `epoch - 1`) to `next`. */
export function signKeyRotation(
  input: { epoch: number; next: TrustedKey; issuedAtMs: number },
  previous: SigningKey,
): Signed {
  const statement: KeyRotationStatement = {
    type: KEY_ROTATION_TYPE,
    epoch: input.epoch,
    keyId: input.next.keyId,
    publicKey: input.next.key.export({ type: 'spki', format: 'pem' }) as string,
    previousKeyId: previous.keyId,
    issuedAtMs: input.issuedAtMs,
  };
  return signPayload(canonicalJson(statement), previous);
}

/**
 * The trust after applying one statement: it must be for the very next epoch and signed by a key
 * trusted now. Anything else throws (SignatureError or ValidationError) and changes nothing.
 */
export function applyKeyRotation(signed: Signed, trust: ControllerTrust): ControllerTrust {
  const statement = parseKeyRotation(signed.payload);
  if (statement.epoch !== trust.epoch + 1) {
    throw new ValidationError(
      `key rotation statement is for epoch ${statement.epoch}; this host trusts epoch ${trust.epoch} and takes only ${trust.epoch + 1} next`,
      { details: { epoch: statement.epoch, trustedEpoch: trust.epoch } },
    );
  }
  if (signed.keyId !== statement.previousKeyId) {
    throw new SignatureError(`key rotation statement names key ${statement.previousKeyId} but is signed by ${signed.keyId}`);
  }
  verifyPayload(signed, trust.keys, `key rotation statement for epoch ${statement.epoch}`);
  const next = parsePublicKey(statement.publicKey, `controller key of epoch ${statement.epoch}`);
  if (keyIdOf(next.key) !== statement.keyId) {
    throw new SignatureError(`key rotation statement's public key has id ${next.keyId}, not ${statement.keyId}`);
  }
  return { epoch: statement.epoch, keys: [next] };
}

/**
 * Walks a chain of statements from `trust`, skipping those at or below its epoch: the trust at
 * the chain's end. Throws at the first statement that does not follow.
 */
export function followKeyChain(chain: readonly Signed[], trust: ControllerTrust): ControllerTrust {
  let current = trust;
  for (const signed of chain) {
    if (parseKeyRotation(signed.payload).epoch <= current.epoch) continue;
    current = applyKeyRotation(signed, current);
  }
  return current;
}
