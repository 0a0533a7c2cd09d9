// One controller signature for a whole rollout step: the step's assignments are the leaves of a
// Merkle tree, the controller signs a statement of its root, and each host gets its own
// assignment with the path from its leaf to that root. The agent checks the path and the
// signature, then every check it makes of a singly signed assignment (host id, expiry, epoch, seq).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { SignatureError, ValidationError } from './errors.js';
import type { SigningKey, TrustedKey } from './keys.js';
import { signPayload, verifyPayload, type Signed } from './signing.js';

export const ASSIGNMENT_ROOT_TYPE = 'flotilla.assignment-root/v1';

/**
 * The most leaves one root covers. It bounds the path an agent hashes (log2 of it) and keeps a
 * step's tree small enough to build between two event-loop turns.
 */
export const MAX_ROOT_LEAVES = 2 ** 20;
const MAX_PATH = 20;

/** What the controller signs for a step: the root of its assignments' tree and how many leaves it has. */
export interface AssignmentRoot {
  readonly type: typeof ASSIGNMENT_ROOT_TYPE;
  /** Base64 SHA-256 of the tree's top node. */
  readonly root: string;
  readonly count: number;
}

/** A host's way from its assignment to a signed root. */
export interface AssignmentProof {
  /** The canonical JSON of the signed AssignmentRoot (the `signature` of the carrying message signs it). */
  readonly root: string;
  /** The assignment's leaf position, 0-based. */
  readonly index: number;
  /** Base64 SHA-256 of each sibling from the leaf up; a level where the node has no sibling has no entry. */
  readonly path: readonly string[];
}

const rootSchema = z
  .object({
    type: z.literal(ASSIGNMENT_ROOT_TYPE),
    root: z.string().length(44),
    count: z.number().int().min(1).max(MAX_ROOT_LEAVES),
  })
  .strict();

export const assignmentProofSchema = z
  .object({
    root: z.string().min(1).max(512),
    index: z.number().int().nonnegative().max(MAX_ROOT_LEAVES - 1),
    path: z.array(z.string().length(44)).max(MAX_PATH),
  })
  .strict();

// Leaves and inner nodes hash under different prefixes, so that an inner node can never be
// passed off as an assignment (the second-preimage attack on plain Merkle trees).
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

function leafHash(payload: string): Buffer {
  return createHash('sha256').update(LEAF).update(payload, 'utf8').digest();
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(NODE).update(left).update(right).digest();
}

/** A step's payloads signed once: each comes back with its own proof, in the order given. */
export function signAssignmentTree(payloads: readonly string[], controllerKey: SigningKey): { signed: Signed; proof: AssignmentProof }[] {
  if (payloads.length === 0) return [];
  if (payloads.length > MAX_ROOT_LEAVES) throw new ValidationError(`a signed root covers at most ${MAX_ROOT_LEAVES} assignments, not ${payloads.length}`);
  const levels: Buffer[][] = [payloads.map(leafHash)];
  for (let level = levels[0] as Buffer[]; level.length > 1; ) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? nodeHash(level[i] as Buffer, level[i + 1] as Buffer) : (level[i] as Buffer));
    levels.push(up);
    level = up;
  }
  const top = (levels[levels.length - 1] as Buffer[])[0] as Buffer;
  const statement: AssignmentRoot = { type: ASSIGNMENT_ROOT_TYPE, root: top.toString('base64'), count: payloads.length };
  const rootSigned = signPayload(canonicalJson(statement), controllerKey);
  return payloads.map((payload, index) => {
    const path: string[] = [];
    let at = index;
    for (const level of levels.slice(0, -1)) {
      const sibling = at ^ 1;
      if (sibling < level.length) path.push((level[sibling] as Buffer).toString('base64'));
      at >>= 1;
    }
    return {
      signed: { payload, keyId: rootSigned.keyId, signature: rootSigned.signature },
      proof: { root: rootSigned.payload, index, path },
    };
  });
}

/**
 * Checks that `payload` is the leaf at `proof.index` under a root the controller signed
 * (`keyId`, `signature` sign `proof.root`). Throws SignatureError naming what fails: the root's
 * signature, its shape, or a path that does not lead from this payload to it. Says nothing of
 * what the payload holds: verifyAssignment checks that as it does for a singly signed one.
 */
export function verifyAssignmentProof(payload: string, keyId: string, signature: string, proof: AssignmentProof, trusted: readonly TrustedKey[]): void {
  verifyPayload({ payload: proof.root, keyId, signature }, trusted, 'assignment root');
  let statement: AssignmentRoot;
  try {
    statement = rootSchema.parse(JSON.parse(proof.root)) as AssignmentRoot;
  } catch {
    // Signed by the controller key but not a root statement (a singly signed assignment's
    // signature, say): refused, so no other signed document can stand in for a root.
    throw new SignatureError('assignment root is not a root statement');
  }
  if (proof.index >= statement.count) throw new SignatureError(`assignment proof index ${proof.index} is outside the root's ${statement.count} leaves`);
  let node = leafHash(payload);
  let at = proof.index;
  let width = statement.count;
  let used = 0;
  while (width > 1) {
    const sibling = at ^ 1;
    if (sibling < width) {
      const hash = proof.path[used++];
      if (hash === undefined) throw new SignatureError('assignment proof is too short for its root');
      const other = Buffer.from(hash, 'base64');
      if (other.length !== 32) throw new SignatureError('assignment proof holds a malformed hash');
      node = at % 2 === 0 ? nodeHash(node, other) : nodeHash(other, node);
    }
    at >>= 1;
    width = Math.ceil(width / 2);
  }
  if (used !== proof.path.length) throw new SignatureError('assignment proof is longer than its root needs');
  if (node.toString('base64') !== statement.root) throw new SignatureError('assignment proof does not lead to the signed root');
}
