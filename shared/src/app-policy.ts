import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { SignatureError, ValidationError } from './errors.js';
import type { SigningKey, TrustedKey } from './keys.js';
import { APP_NAME, VERSION } from './names.js';
import { signPayload, verifyPayload, type Signed } from './signing.js';

export const APP_POLICY_TYPE = 'flotilla.app-policy/v1';

/**
 * A release signer's floor under an app: versions no host may install, whoever assigns them.
 * The newest policy (by issuedAtMs) replaces older ones, so revoking is adding to the list.
 */
export interface AppPolicy {
  readonly type: typeof APP_POLICY_TYPE;
  readonly app: string;
  readonly revokedVersions: readonly string[];
  readonly issuedAtMs: number;
}

const policySchema = z
  .object({
    type: z.literal(APP_POLICY_TYPE),
    app: z.string().regex(APP_NAME),
    revokedVersions: z.array(z.string().regex(VERSION)).max(10_000),
    issuedAtMs: z.number().int().nonnegative(),
  })
  .strict();

export function parseAppPolicy(json: string): AppPolicy {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ValidationError('app policy is not valid JSON');
  }
  const r = policySchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ValidationError(
      `app policy is invalid: ${issue ? `${issue.path.join('.') || '(root)'} ${issue.message}` : 'unknown problem'}`,
    );
  }
  return r.data as AppPolicy;
}

export function signAppPolicy(
  input: { app: string; revokedVersions: readonly string[]; issuedAtMs: number },
  releaseKey: SigningKey,
): Signed {
  const policy: AppPolicy = {
    type: APP_POLICY_TYPE,
    app: input.app,
    revokedVersions: [...new Set(input.revokedVersions)].sort(),
    issuedAtMs: input.issuedAtMs,
  };
  return signPayload(canonicalJson(parseAppPolicy(JSON.stringify(policy))), releaseKey);
}

/** Verifies a policy against the release keys in force (revoked ones already taken out). */
export function verifyAppPolicy(signed: Signed, releaseKeys: readonly TrustedKey[], app?: string): AppPolicy {
  const policy = parseAppPolicy(signed.payload);
  verifyPayload(signed, releaseKeys, `app policy for ${policy.app}`);
  if (app !== undefined && policy.app !== app) {
    throw new SignatureError(`app policy is for app "${policy.app}", expected "${app}"`);
  }
  return policy;
}

/** Why `version` may not be installed under `policy`, or null when it may. */
export function policyRefusal(policy: AppPolicy | undefined, version: string): string | null {
  if (policy === undefined || !policy.revokedVersions.includes(version)) return null;
  return `${policy.app}@${version} is revoked by the app policy issued ${new Date(policy.issuedAtMs).toISOString()}`;
}
