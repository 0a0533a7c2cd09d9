import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { SignatureError, ValidationError } from './errors.js';
import type { SigningKey, TrustedKey } from './keys.js';
import { APP_NAME, SHA256_HEX, VERSION } from './names.js';
import { signPayload, verifyPayload, type Signed } from './signing.js';

export const DESCRIPTOR_TYPE = 'flotilla.descriptor/v1';

/**
 * What the release signer vouches for: these bytes (by SHA-256 and size) are this version of this
 * app. `type` separates descriptor signatures from every other thing a key might sign.
 */
export interface Descriptor {
  readonly type: typeof DESCRIPTOR_TYPE;
  readonly app: string;
  readonly version: string;
  readonly sha256: string;
  readonly size: number;
}

const descriptorSchema = z
  .object({
    type: z.literal(DESCRIPTOR_TYPE),
    app: z.string().regex(APP_NAME, 'not a valid app name'),
    version: z.string().regex(VERSION, 'not a valid version').refine((v) => !v.includes('..'), "must not contain '..'"),
    sha256: z.string().regex(SHA256_HEX, 'must be 64 lowercase hex digits'),
    size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  })
  .strict();

/** A descriptor with its signature, as stored and shipped. */
export interface SignedDescriptor extends Signed {}

export function makeDescriptor(fields: Omit<Descriptor, 'type'>): Descriptor {
  return parseDescriptorObject({ type: DESCRIPTOR_TYPE, ...fields });
}

function parseDescriptorObject(value: unknown): Descriptor {
  const r = descriptorSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ValidationError(
      `descriptor is invalid: ${issue ? `${issue.path.join('.') || '(root)'} ${issue.message}` : 'unknown problem'}`,
    );
  }
  return Object.freeze(r.data) as Descriptor;
}

/** Parses descriptor JSON text, checking its shape and that it is in canonical form. */
export function parseDescriptor(json: string): Descriptor {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ValidationError('descriptor is not valid JSON');
  }
  const d = parseDescriptorObject(value);
  if (canonicalJson(d) !== json) throw new ValidationError('descriptor is not in canonical JSON form');
  return d;
}

export function signDescriptor(descriptor: Descriptor, signer: SigningKey): SignedDescriptor {
  return signPayload(canonicalJson(descriptor), signer);
}

export interface DescriptorExpectation {
  app?: string;
  version?: string;
  sha256?: string;
}

/**
 * Verifies a signed descriptor against trusted release keys and, when given, that it names the
 * expected app, version and digest. Returns the descriptor.
 */
export function verifyDescriptor(
  signed: SignedDescriptor,
  trusted: readonly TrustedKey[],
  expect: DescriptorExpectation = {},
): Descriptor {
  const descriptor = parseDescriptor(signed.payload);
  const label = `release descriptor for ${descriptor.app}@${descriptor.version}`;
  verifyPayload(signed, trusted, label);
  if (expect.app !== undefined && descriptor.app !== expect.app) {
    throw new SignatureError(`${label} is for app "${descriptor.app}", expected "${expect.app}"`);
  }
  if (expect.version !== undefined && descriptor.version !== expect.version) {
    throw new SignatureError(`${label} is for version "${descriptor.version}", expected "${expect.version}"`);
  }
  if (expect.sha256 !== undefined && descriptor.sha256 !== expect.sha256) {
    throw new SignatureError(`${label} has SHA-256 ${descriptor.sha256}, expected ${expect.sha256}`);
  }
  return descriptor;
}

export const REVOCATION_TYPE = 'flotilla.release-key-revocation/v1';

/**
 * "Release key `keyId` is no longer trusted": signed by another trusted release key. From then
 * on descriptors (and app policies) signed by it are refused by the controller and by agents;
 * releases already installed keep running, since their bytes were checked when they were good.
 */
export interface ReleaseKeyRevocation {
  readonly type: typeof REVOCATION_TYPE;
  readonly keyId: string;
  readonly reason: string;
  readonly issuedAtMs: number;
}

const revocationSchema = z
  .object({
    type: z.literal(REVOCATION_TYPE),
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
    reason: z.string().max(500),
    issuedAtMs: z.number().int().nonnegative(),
  })
  .strict();

export function parseRevocation(json: string): ReleaseKeyRevocation {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ValidationError('release key revocation is not valid JSON');
  }
  const r = revocationSchema.safeParse(value);
  if (!r.success) throw new ValidationError(`release key revocation is invalid: ${r.error.issues[0]?.message ?? 'unknown problem'}`);
  return r.data as ReleaseKeyRevocation;
}

export function signRevocation(input: { keyId: string; reason: string; issuedAtMs: number }, signer: SigningKey): Signed {
  if (input.keyId === signer.keyId) throw new ValidationError('a release key cannot revoke itself; sign with another trusted release key');
  const revocation: ReleaseKeyRevocation = { type: REVOCATION_TYPE, ...input };
  return signPayload(canonicalJson(parseRevocation(JSON.stringify(revocation))), signer);
}

/**
 * The release keys still in force after `revocations`. Revocations apply oldest first; one signed
 * by a key already revoked, or by the key it names, counts for nothing, and the last key in force
 * is never revoked (a host with no release key could install nothing, not even a fix). Returns
 * the keys in force and the ids revoked; revocations that do not verify are skipped.
 */
export function releaseKeysInForce(
  trusted: readonly TrustedKey[],
  revocations: readonly Signed[],
): { keys: TrustedKey[]; revoked: string[] } {
  const parsed = revocations.flatMap((signed) => {
    try {
      return [{ signed, revocation: parseRevocation(signed.payload) }];
    } catch {
      return [];
    }
  });
  parsed.sort((a, b) => a.revocation.issuedAtMs - b.revocation.issuedAtMs || (a.revocation.keyId < b.revocation.keyId ? -1 : 1));
  let keys = [...trusted];
  const revoked: string[] = [];
  for (const { signed, revocation } of parsed) {
    if (signed.keyId === revocation.keyId || !keys.some((k) => k.keyId === revocation.keyId)) continue;
    try {
      verifyPayload(signed, keys, 'release key revocation');
    } catch {
      continue;
    }
    if (keys.length <= 1) continue;
    keys = keys.filter((k) => k.keyId !== revocation.keyId);
    revoked.push(revocation.keyId);
  }
  return { keys, revoked };
}
