import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { SignatureError, StaleAssignmentError, ValidationError } from './errors.js';
import type { SigningKey, TrustedKey } from './keys.js';
import { APP_NAME, HOST_ID, VERSION } from './names.js';
import { signPayload, verifyPayload, type Signed } from './signing.js';

export const ASSIGNMENT_TYPE = 'flotilla.assignment/v1';

/** What one app on one host should run. */
export interface AppAssignment {
  readonly version: string;
  /** The release signer's descriptor for that version: the agent verifies it itself. */
  readonly release: Signed;
  /** The app's last stable version, which the agent keeps on disk for a fast revert. */
  readonly stableVersion?: string;
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

/**
 * The controller's word on a host's whole desired state ("host h runs web 1.4.2"). `seq` only
 * grows per host; the agent ignores any assignment whose seq is not above the highest it accepted.
 */
export interface Assignment {
  readonly type: typeof ASSIGNMENT_TYPE;
  readonly hostId: string;
  readonly seq: number;
  readonly issuedAtMs: number;
  readonly apps: Readonly<Record<string, AppAssignment>>;
}

const signedSchema = z
  .object({ payload: z.string().min(1), keyId: z.string(), signature: z.string() })
  .strict();

const assignmentSchema = z
  .object({
    type: z.literal(ASSIGNMENT_TYPE),
    hostId: z.string().regex(HOST_ID),
    seq: z.number().int().positive(),
    issuedAtMs: z.number().int().nonnegative(),
    apps: z.record(
      z.string().regex(APP_NAME),
      z
        .object({
          version: z.string().regex(VERSION),
          release: signedSchema,
          stableVersion: z.string().regex(VERSION).optional(),
          traffic: z.object({ weight: z.number().int().min(0).max(100), retire: z.boolean().optional() }).strict().optional(),
        })
        .strict(),
    ),
  })
  .strict();

/** A signed assignment as it travels (NATS) and is stored (KV). */
export type SignedAssignment = Signed;

export const signedAssignmentSchema = signedSchema;

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

/**
 * Verifies an assignment for `hostId`: the controller's signature, that it is addressed to this
 * host, and that its seq is above `acceptedSeq` (the highest this host accepted). Replayed and
 * stale assignments raise StaleAssignmentError, which callers log and otherwise ignore.
 */
export function verifyAssignment(
  signed: SignedAssignment,
  controllerKeys: readonly TrustedKey[],
  hostId: string,
  acceptedSeq: number,
): Assignment {
  verifyPayload(signed, controllerKeys, 'assignment');
  const assignment = parseAssignment(signed.payload);
  if (assignment.hostId !== hostId) {
    throw new SignatureError(`assignment is addressed to host "${assignment.hostId}", not "${hostId}"`);
  }
  if (assignment.seq <= acceptedSeq) {
    throw new StaleAssignmentError(
      `assignment seq ${assignment.seq} is not above the accepted seq ${acceptedSeq}: ignored as stale or replayed`,
      { details: { seq: assignment.seq, acceptedSeq } },
    );
  }
  return assignment;
}
