import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  APP_POLICY_TYPE,
  ConfigError,
  REVOCATION_TYPE,
  errorMessage,
  followKeyChain,
  parseAppPolicy,
  parseKeyRotation,
  parsePublicKey,
  releaseKeysInForce,
  signedAssignmentSchema,
  verifyAppPolicy,
  type Logger,
  type Signed,
  type SigningKey,
  type TrustedKey,
} from '@flotilla/shared';

/** The controller key's rotation chain sits beside the key: `<controllerKey>.chain.json`. */
export function keyChainPath(controllerKeyPath: string): string {
  return `${controllerKeyPath}.chain.json`;
}

/** Signed release-key revocations and app policies are dropped here, one JSON file each. */
export function trustDir(dataDir: string): string {
  return join(dataDir, 'trust');
}

/**
 * What the controller knows beyond its configured keys, read at start: the controller key's
 * epoch and rotation chain (handed to hosts that have not followed it yet), release-key
 * revocations and app policies (carried in every assignment, and obeyed by the controller too).
 */
export interface TrustDocuments {
  /** The epoch of the key the controller signs with. */
  readonly keyEpoch: number;
  /** Rotation statements, oldest first. */
  readonly keyChain: readonly Signed[];
  readonly revocations: readonly Signed[];
  /** The release keys in force: the configured ones less those revoked. */
  readonly releaseKeys: readonly TrustedKey[];
  readonly revokedKeyIds: readonly string[];
  /** The newest valid policy per app, as signed. */
  readonly policies: ReadonlyMap<string, Signed>;
  /** Revoked versions per app, from `policies`. */
  readonly revokedVersions: ReadonlyMap<string, ReadonlySet<string>>;
}

async function readSigned(path: string): Promise<Signed> {
  const r = signedAssignmentSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!r.success) throw new ConfigError(`${path}: not a signed document ({payload, keyId, signature})`);
  return r.data;
}

/**
 * Reads the chain and the trust directory. A chain that does not hold together, or does not end
 * at the signing key, is a configuration error: signing in the wrong epoch would be refused by
 * every host. A document in the trust directory that does not verify is logged and skipped.
 */
export async function loadTrustDocuments(input: {
  controllerKeyPath: string;
  signingKey: SigningKey;
  dataDir: string;
  releaseKeys: readonly TrustedKey[];
  logger: Logger;
}): Promise<TrustDocuments> {
  const log = input.logger;
  let keyChain: Signed[] = [];
  const chainPath = keyChainPath(input.controllerKeyPath);
  try {
    const value = JSON.parse(await readFile(chainPath, 'utf8')) as unknown;
    if (!Array.isArray(value)) throw new ConfigError(`${chainPath}: not a JSON array of rotation statements`);
    keyChain = value.map((v) => {
      const r = signedAssignmentSchema.safeParse(v);
      if (!r.success) throw new ConfigError(`${chainPath}: an entry is not a signed statement`);
      return r.data;
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`cannot read the controller key chain ${chainPath}: ${errorMessage(err)}`, { cause: err });
    }
  }
  let keyEpoch = 1;
  if (keyChain.length > 0) {
    const statements = keyChain.map((s) => parseKeyRotation(s.payload));
    const first = statements[0]!;
    if (statements.some((st, i) => st.epoch !== i + 2)) {
      throw new ConfigError(`the controller key chain ${chainPath} does not count epochs 2, 3, … in order`);
    }
    // The first statement is checked by hosts against their configured key; from there each one
    // must be signed by the key the one before it introduced.
    try {
      const afterFirst = followKeyChain(keyChain.slice(1), {
        epoch: first.epoch,
        keys: [parsePublicKey(first.publicKey, chainPath)],
      });
      keyEpoch = afterFirst.epoch;
      if (afterFirst.keys[0]?.keyId !== input.signingKey.keyId) {
        throw new ConfigError(
          `the controller key ${input.signingKey.keyId} is not the last key of its chain ${chainPath} (${afterFirst.keys[0]?.keyId}); hosts would refuse what it signs`,
        );
      }
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`the controller key chain ${chainPath} does not hold together: ${errorMessage(err)}`, { cause: err });
    }
  }

  const docs: Signed[] = [];
  const dir = trustDir(input.dataDir);
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, dir }, 'cannot read the trust directory');
  }
  for (const name of names) {
    try {
      docs.push(await readSigned(join(dir, name)));
    } catch (err) {
      log.warn({ err, file: name }, 'trust document unreadable; skipped');
    }
  }
  const revocations = docs.filter((d) => d.payload.includes(`"type":"${REVOCATION_TYPE}"`));
  const { keys, revoked } = releaseKeysInForce(input.releaseKeys, revocations);
  const policies = new Map<string, Signed>();
  const revokedVersions = new Map<string, ReadonlySet<string>>();
  const issued = new Map<string, number>();
  for (const doc of docs.filter((d) => d.payload.includes(`"type":"${APP_POLICY_TYPE}"`))) {
    try {
      const policy = verifyAppPolicy(doc, keys);
      if ((issued.get(policy.app) ?? -1) >= policy.issuedAtMs) continue;
      issued.set(policy.app, policy.issuedAtMs);
      policies.set(policy.app, doc);
      revokedVersions.set(policy.app, new Set(parseAppPolicy(doc.payload).revokedVersions));
    } catch (err) {
      log.warn({ err }, 'app policy does not verify against the release keys in force; skipped');
    }
  }
  if (revoked.length > 0) log.warn({ revoked }, 'release keys revoked: descriptors they sign are refused');
  log.info({ keyEpoch, keyId: input.signingKey.keyId, policies: [...policies.keys()] }, 'trust documents loaded');
  return Object.freeze({ keyEpoch, keyChain, revocations, releaseKeys: keys, revokedKeyIds: revoked, policies, revokedVersions });
}
