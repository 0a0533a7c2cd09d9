import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { SignatureError, StaleAssignmentError, ValidationError } from './errors.js';
import type { SigningKey, TrustedKey } from './keys.js';
import { APP_NAME, HOST_ID, VERSION } from './names.js';
import { assignmentProofSchema, verifyAssignmentProof, type AssignmentProof } from './assignment-proof.js';
import { signPayload, verifyPayload, type Signed } from './signing.js';

export const ASSIGNMENT_TYPE = 'flotilla.assignment/v1';

/** What one app on one host should run. */
export interface AppAssignment {
  readonly version: string;
  /** The release signer's descriptor for that version: the agent verifies it itself. */
  readonly release: Signed;
  /** The app's last stable version, which the agent keeps on disk for a fast revert. */
  readonly stableVersion?: string;
  /**
   * The app's policy (revoked versions), signed by a release key: the agent keeps the newest it
   * has seen and enforces it whatever later assignments carry (app-policy.ts).
   */
  readonly policy?: Signed;
  /** For an app served from two slots: the traffic on `version`. Absent: all of it, old release retired. */
  readonly traffic?: TrafficAssignment;
}

/** How a host splits one app's traffic between the assigned version and the one beside it. */
export interface TrafficAssignment {
  /** Percent of requests on `version`, 0-100; the rest stay on the release running beside it. */
  readonly weight: number;
  /** At weight 100: stop the release beside it. Until then it keeps running, ready for a revert. */
  readonly retire?: boolean;
}

/** How long an assignment is good for by default: the controller re-signs it at half this. */
export const DEFAULT_ASSIGNMENT_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * How far a new seq may run ahead of the accepted one (within one key epoch). Without a bound one
 * signed assignment with seq 2^53-1 would leave no seq above it, locking the host out for good.
 */
export const MAX_SEQ_JUMP = 2 ** 20;

/**
 * The controller's word on a host's whole desired state ("host h runs web 1.4.2"). `(epoch, seq)`
 * only grows per host, ordered epoch first; the agent ignores any assignment not above the
 * highest it accepted, and any that has expired.
 */
export interface Assignment {
  readonly type: typeof ASSIGNMENT_TYPE;
  readonly hostId: string;
  /** The controller key's epoch (key-rotation.ts); each epoch counts seq afresh from 1. Absent: 1. */
  readonly epoch?: number;
  readonly seq: number;
  readonly issuedAtMs: number;
  /**
   * After this the assignment says nothing: an agent holding only an expired one keeps what it
   * runs, reports itself stale and installs nothing. Absent only in assignments of older
   * controllers, which agents refuse.
   */
  readonly expiresAtMs?: number;
  readonly apps: Readonly<Record<string, AppAssignment>>;
  /** Release-key revocations (descriptor.ts), which the agent keeps and obeys from then on. */
  readonly revocations?: readonly Signed[];
}

/** An assignment's place in a host's order: epoch first, then seq. */
export interface AssignmentPosition {
  readonly epoch: number;
  readonly seq: number;
}

export function positionOf(a: Pick<Assignment, 'epoch' | 'seq'>): AssignmentPosition {
  return { epoch: a.epoch ?? 1, seq: a.seq };
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePositions(a: AssignmentPosition, b: AssignmentPosition): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.seq - b.seq;
}

const signedSchema = z
  .object({ payload: z.string().min(1), keyId: z.string(), signature: z.string() })
  .strict();

const assignmentSchema = z
  .object({
    type: z.literal(ASSIGNMENT_TYPE),
    hostId: z.string().regex(HOST_ID),
    epoch: z.number().int().positive().optional(),
    seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    issuedAtMs: z.number().int().nonnegative(),
    expiresAtMs: z.number().int().nonnegative().optional(),
    apps: z.record(
      z.string().regex(APP_NAME),
      z
        .object({
          version: z.string().regex(VERSION),
          release: signedSchema,
          stableVersion: z.string().regex(VERSION).optional(),
          policy: signedSchema.optional(),
          traffic: z.object({ weight: z.number().int().min(0).max(100), retire: z.boolean().optional() }).strict().optional(),
        })
        .strict(),
    ),
    revocations: z.array(signedSchema).max(64).optional(),
  })
  .strict();

/**
 * A signed assignment as it travels (NATS) and is stored (KV). Without `proof`, `signature` signs
 * `payload` itself. With it (assignment-proof.ts), `signature` signs the root statement of a
 * step's tree of assignments and `proof` leads from this payload to that root. Agents before the
 * proof form refuse it as malformed (their schema is strict), so the controller sends it only to
 * hosts that announce `assignmentProofs`.
 */
export interface SignedAssignment extends Signed {
  readonly proof?: AssignmentProof;
}

export const signedAssignmentSchema = signedSchema.extend({ proof: assignmentProofSchema.optional() }).strict();

export function signAssignment(assignment: Assignment, controllerKey: SigningKey): SignedAssignment {
  return signPayload(canonicalJson(assignment), controllerKey);
}

export function parseAssignment(json: string): Assignment {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ValidationError('assignment is not valid JSON');
  }
  const r = assignmentSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ValidationError(
      `assignment is invalid: ${issue ? `${issue.path.join('.') || '(root)'} ${issue.message}` : 'unknown problem'}`,
    );
  }
  return r.data as Assignment;
}

/** What the agent checks an assignment against. */
export interface AssignmentCheck {
  readonly hostId: string;
  /** The controller keys trusted now, and their epoch. */
  readonly trust: { readonly epoch: number; readonly keys: readonly TrustedKey[] };
  /** The highest position this host accepted ({1, 0} for none). */
  readonly accepted: AssignmentPosition;
  readonly nowMs: number;
}

/**
 * Verifies an assignment: the controller's signature by a key of the trusted epoch (over the
 * assignment, or over the root its proof leads to), that it is
 * addressed to this host, that it has not expired, and that its position is above the accepted
 * one but not beyond MAX_SEQ_JUMP. Replayed, older and expired assignments raise
 * StaleAssignmentError (details.reason says which), which callers log and otherwise ignore; one
 * from a later key epoch raises SignatureError with details.epoch, so the agent asks for the
 * rotation statements it lacks.
 */
export function verifyAssignment(signed: SignedAssignment, check: AssignmentCheck): Assignment {
  const assignment = parseAssignment(signed.payload);
  const epoch = assignment.epoch ?? 1;
  if (epoch > check.trust.epoch) {
    throw new SignatureError(
      `assignment is from controller-key epoch ${epoch}, but this host trusts epoch ${check.trust.epoch} and has no rotation statement for the later one`,
      { details: { epoch, trustedEpoch: check.trust.epoch, keyId: signed.keyId } },
    );
  }
  if (signed.proof !== undefined) verifyAssignmentProof(signed.payload, signed.keyId, signed.signature, signed.proof, check.trust.keys);
  else verifyPayload(signed, check.trust.keys, 'assignment');
  if (assignment.hostId !== check.hostId) {
    throw new SignatureError(`assignment is addressed to host "${assignment.hostId}", not "${check.hostId}"`);
  }
  const position = positionOf(assignment);
  const details = { seq: assignment.seq, epoch, acceptedSeq: check.accepted.seq, acceptedEpoch: check.accepted.epoch };
  if (assignment.expiresAtMs === undefined || assignment.expiresAtMs <= check.nowMs) {
    throw new StaleAssignmentError(
      assignment.expiresAtMs === undefined
        ? 'assignment carries no expiry: refused'
        : `assignment seq ${assignment.seq} expired at ${new Date(assignment.expiresAtMs).toISOString()}: refused`,
      { details: { ...details, reason: 'expired' } },
    );
  }
  if (epoch < check.trust.epoch || comparePositions(position, check.accepted) <= 0) {
    throw new StaleAssignmentError(
      `assignment (epoch ${epoch}, seq ${assignment.seq}) is not above the accepted (epoch ${check.accepted.epoch}, seq ${check.accepted.seq}): ignored as stale or replayed`,
      { details: { ...details, reason: 'replayed' } },
    );
  }
  const base = epoch === check.accepted.epoch ? check.accepted.seq : 0;
  if (assignment.seq > base + MAX_SEQ_JUMP) {
    throw new ValidationError(
      `assignment seq ${assignment.seq} jumps more than ${MAX_SEQ_JUMP} above the accepted seq ${base}: refused`,
      { details },
    );
  }
  return assignment;
}
