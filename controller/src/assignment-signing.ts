// Which form each host's assignment is signed in: step-signed (one root for the step, a proof
// each) for hosts that take proofs, its own signature for every other (docs/protocol.md).
import {
  MAX_ROOT_LEAVES,
  canonicalJson,
  signAssignment,
  signAssignmentTree,
  signPayload,
  type Assignment,
  type SignedAssignment,
  type SigningKey,
} from '@flotilla/shared';

/** What the signer needs to know of a host's stored assignment. */
export interface StoredForm {
  /** The form of the host's stored assignment, if any. */
  storedWithProof(hostId: string): boolean;
}

export class AssignmentSigner {
  /** What each host said in its last announce about taking proofs. */
  private readonly announced = new Map<string, boolean>();

  constructor(
    private readonly key: SigningKey,
    private readonly stored: StoredForm,
  ) {}

  /** What a host's announce says about taking step-signed assignments. */
  noteAnnounce(hostId: string, assignmentProofs: boolean): void {
    this.announced.set(hostId, assignmentProofs);
  }

  /**
   * True when the host takes a proof: it said so, or (a controller restarted since it last
   * announced) its stored assignment has one, which only a host that said so is given.
   */
  takesProofs(hostId: string): boolean {
    return this.announced.get(hostId) ?? this.stored.storedWithProof(hostId);
  }

  /**
   * Signs assignments in the form each host takes: one root over every host that takes proofs
   * (a tree of one for a single write, so its stored form still says the host takes them), its
   * own signature for every other. Aligned with `assignments`.
   */
  signAll(assignments: readonly Assignment[]): SignedAssignment[] {
    const out: SignedAssignment[] = new Array(assignments.length);
    const withProof: number[] = [];
    assignments.forEach((a, i) => {
      if (this.takesProofs(a.hostId)) withProof.push(i);
      else out[i] = signAssignment(a, this.key);
    });
    for (let from = 0; from < withProof.length; from += MAX_ROOT_LEAVES) {
      const chunk = withProof.slice(from, from + MAX_ROOT_LEAVES);
      const signed = signAssignmentTree(chunk.map((i) => canonicalJson(assignments[i] as Assignment)), this.key);
      chunk.forEach((i, k) => {
        const s = signed[k] as (typeof signed)[number];
        out[i] = { ...s.signed, proof: s.proof };
      });
    }
    return out;
  }

  /**
   * The signed assignment in the form the host takes. One stored with a proof, for a host that
   * has since announced without proofs (an agent taken back to an older version), is signed
   * singly: the same payload, so the same seq and expiry, in the form that agent checks.
   */
  formFor(hostId: string, signed: SignedAssignment): SignedAssignment {
    if (signed.proof === undefined || this.announced.get(hostId) !== false) return signed;
    return signPayload(signed.payload, this.key);
  }
}
