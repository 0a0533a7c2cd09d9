/**
 * Evidence that the controller's store went back in time (a power loss before an fsync, a
 * restored backup): a host holds an assignment the store has no record of. The agent persists
 * the highest seq it accepted and ignores anything not above it, so the controller must learn
 * that seq from the host and issue above it, or the host ignores every new assignment.
 */

/** What one heartbeat says about the assignment the host holds. */
export interface HostAssignmentEvidence {
  /** The highest assignment seq the host accepted. */
  readonly acceptedSeq: number;
  /** Per reported app, the version its accepted assignment names (null: not assigned). */
  readonly desiredVersions: Readonly<Record<string, string | null>>;
}

/**
 * How the host's assignment compares with the controller's record of it:
 * - `in-step`: the host holds the recorded assignment.
 * - `catching-up`: the host is below the record (it has not received or accepted it yet).
 * - `ahead`: the host accepted a seq above the record: the store lost the writes above it.
 * - `diverged`: the same seq, but other versions: the store lost an assignment and the seq was
 *   handed out again for a different one, which the host ignored as stale.
 */
export type AssignmentComparison = 'in-step' | 'catching-up' | 'ahead' | 'diverged';

export function compareWithRecord(
  record: { readonly seq: number; readonly versions: Readonly<Record<string, string>> },
  evidence: HostAssignmentEvidence,
): AssignmentComparison {
  if (evidence.acceptedSeq > record.seq) return 'ahead';
  if (evidence.acceptedSeq < record.seq) return 'catching-up';
  for (const [app, version] of Object.entries(evidence.desiredVersions)) {
    if ((record.versions[app] ?? null) !== version) return 'diverged';
  }
  return 'in-step';
}

/** A host found holding an assignment the controller's store lost. */
export interface StoreBehindFinding {
  readonly hostId: string;
  readonly acceptedSeq: number;
  /** The seq of the controller's record for the host (0 for none). */
  readonly recordSeq: number;
  readonly comparison: 'ahead' | 'diverged';
  /** App to version, as the controller's record has it. */
  readonly recordVersions: Readonly<Record<string, string>>;
  /** App to version, as the host's accepted assignment has it. */
  readonly hostVersions: Readonly<Record<string, string | null>>;
  /**
   * True when the record was written by this controller process, so it is a decision made now:
   * it is issued again above the host's seq. A record read from the store at start is not pushed
   * (it would silently undo a deploy the store forgot); the host keeps what it runs until the
   * next deploy or rollback, which goes above its seq.
   */
  readonly reissued: boolean;
}
