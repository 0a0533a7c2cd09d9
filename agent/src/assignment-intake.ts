import {
  SignatureError,
  StaleAssignmentError,
  comparePositions,
  errorMessage,
  isKeyRotation,
  parseAssignment,
  positionOf,
  verifyAssignment,
  type Assignment,
  type AssignmentCheck,
  type Logger,
  type SignedAssignment,
} from '@flotilla/shared';
import type { AssignmentSource, ControlLink } from './control-link.js';
import type { Converger } from './converge.js';
import type { StateKeeper } from './state.js';
import type { TrustKeeper } from './trust.js';

/** How soon an assignment that could not be saved is tried again (the controller also re-sends it). */
const SAVE_RETRY_MS = 5_000;

/** At most one sync a while for an assignment from a key epoch this host has not reached. */
const EPOCH_RESYNC_MS = 30_000;

/** What accepting an assignment reads and moves; the agent's parts that exist only once it runs are read late. */
export interface AssignmentIntakeDeps {
  readonly hostId: string;
  readonly trust: TrustKeeper;
  /** The state; null before the agent has loaded it. */
  readonly keeper: () => StateKeeper | null;
  readonly converger: () => Converger | null;
  readonly link: () => Pick<ControlLink, 'heartbeatSoon' | 'resync'> | null;
  /** False while the agent starts or stops: assignments are then ignored (a sync brings them again). */
  readonly running: () => boolean;
  readonly now: () => number;
  readonly log: Logger;
}

/**
 * Takes the controller's word about this host: verifies each signed assignment (and key rotation
 * statement), persists it before it is accepted, and hands it to the converger. What it refused or
 * could not save is kept for the heartbeat to report.
 */
export class AssignmentIntake {
  /** An assignment that verified but could not be saved, so it was not accepted (full disk, I/O error). */
  private unsavedSeq: { seq: number; error: string } | null = null;
  /** Why the last assignment or key statement was refused (reported in heartbeats), or null. */
  private refused: string | null = null;
  private lastEpochResyncMs = 0;
  private expiryOf: { payload: string; expiresAtMs: number | undefined } | null = null;
  private saveRetry: NodeJS.Timeout | undefined;

  constructor(private readonly deps: AssignmentIntakeDeps) {}

  /** Why the last assignment or key statement was refused, or null. */
  get trustError(): string | null {
    return this.refused;
  }

  /** The assignment that verified but could not be saved, or null. */
  get unsaved(): { seq: number; error: string } | null {
    return this.unsavedSeq;
  }

  private get keeper(): StateKeeper {
    return this.deps.keeper() as StateKeeper;
  }

  /** What an arriving assignment is checked against now. */
  check(): AssignmentCheck {
    const state = this.keeper.current;
    return {
      hostId: this.deps.hostId,
      trust: this.deps.trust.controllerTrust,
      accepted: { epoch: state.acceptedEpoch ?? 1, seq: state.acceptedSeq },
      nowMs: this.deps.now(),
    };
  }

  /** Converges on the saved assignment at once: the agent must not need the controller to recover. */
  resume(): void {
    const signed = this.keeper.current.assignment;
    if (signed === null) return;
    try {
      const check = this.check();
      const assignment = verifyAssignment(signed, { ...check, accepted: { ...check.accepted, seq: check.accepted.seq - 1 } });
      this.deps.log.info({ seq: assignment.seq }, 'resuming the saved assignment');
      this.deps.converger()!.submit(assignment, true);
    } catch (err) {
      // An expired one included: what runs keeps running, and heartbeats say the host is stale.
      this.deps.log.warn({ err }, 'saved assignment no longer holds; keeping what runs, waiting for the controller');
    }
  }

  /** A controller key rotation statement (pushed, or in a sync's key chain). */
  private async onKeyRotation(signed: SignedAssignment, source: AssignmentSource): Promise<void> {
    try {
      if (await this.deps.trust.rotate(signed)) {
        this.refused = null;
        this.deps.link()?.heartbeatSoon();
      }
    } catch (err) {
      this.refused = `key rotation statement refused: ${errorMessage(err)}`;
      this.deps.log.warn({ source, keyId: signed.keyId, err }, 'key rotation statement refused');
      this.deps.link()?.heartbeatSoon();
    }
  }

  /** Verify, persist, then converge; anything stale, replayed or forged is logged and dropped. */
  async onAssignment(signed: SignedAssignment, source: AssignmentSource): Promise<void> {
    const keeper = this.deps.keeper();
    if (!this.deps.running() || keeper === null) return;
    if (isKeyRotation(signed)) return this.onKeyRotation(signed, source);
    const { log, trust } = this.deps;
    const check = this.check();
    const acceptedSeq = check.accepted.seq;
    let assignment: Assignment;
    try {
      assignment = verifyAssignment(signed, check);
      // Release-signed revocations and policies ride along; they bind whatever the controller says.
      await trust.absorb(assignment);
      for (const [app, a] of Object.entries(assignment.apps)) {
        const refusal = trust.refusal(app, a.version);
        if (refusal !== null) throw new SignatureError(`assignment seq ${assignment.seq} refused: ${refusal}`);
      }
    } catch (err) {
      if (err instanceof StaleAssignmentError && err.details.reason === 'replayed') {
        if (err.details.seq === acceptedSeq && signed.payload === keeper.current.assignment?.payload) {
          // The controller (or a sync) says again what was accepted: retry what failed.
          log.debug({ source, seq: acceptedSeq }, 'accepted assignment asserted again');
          this.deps.converger()?.reassert();
          return;
        }
        log.info({ source, seq: err.details.seq, acceptedSeq }, 'stale or replayed assignment ignored');
        return;
      }
      this.refused = errorMessage(err);
      this.deps.link()?.heartbeatSoon();
      if (err instanceof StaleAssignmentError) {
        log.warn({ source, seq: err.details.seq, err }, 'expired assignment refused');
      } else if (err instanceof SignatureError) {
        log.warn({ source, keyId: signed.keyId, err }, 'assignment with an invalid signature ignored');
        const epoch = err.details.epoch;
        if (typeof epoch === 'number' && this.deps.now() - this.lastEpochResyncMs >= EPOCH_RESYNC_MS) {
          // Signed in a key epoch this host has not reached: the controller's chain brings it there.
          this.lastEpochResyncMs = this.deps.now();
          this.deps.link()?.resync();
        }
      } else {
        log.warn({ source, err }, 'malformed assignment ignored');
      }
      return;
    }
    // Persisted before acting, and not accepted unless persisted: heartbeats report the old
    // accepted seq, so the controller sends it again, and a replay of anything older can never
    // move the host again.
    let applied = false;
    try {
      await keeper.update((s) => {
        // Checked again against the durable state: a retry below may race a newer assignment.
        if (comparePositions({ epoch: s.acceptedEpoch ?? 1, seq: s.acceptedSeq }, positionOf(assignment)) >= 0) return s;
        applied = true;
        return { ...s, acceptedSeq: assignment.seq, acceptedEpoch: positionOf(assignment).epoch, assignment: signed };
      });
    } catch (err) {
      this.unsavedSeq = { seq: assignment.seq, error: errorMessage(err) };
      log.error({ err, source, seq: assignment.seq }, 'assignment could not be saved; not accepted until it can be');
      this.deps.link()?.heartbeatSoon();
      // The controller re-sends it too (heartbeats show the old seq); whichever comes first.
      clearTimeout(this.saveRetry);
      this.saveRetry = setTimeout(() => {
        void this.onAssignment(signed, source).catch((e: unknown) => log.error({ err: e }, 'retrying an unsaved assignment failed'));
      }, SAVE_RETRY_MS);
      this.saveRetry.unref();
      return;
    }
    if (!applied) return;
    clearTimeout(this.saveRetry);
    this.unsavedSeq = null;
    this.refused = null;
    log.info(
      {
        source,
        seq: assignment.seq,
        apps: Object.fromEntries(Object.entries(assignment.apps).map(([app, a]) => [app, a.version])),
      },
      'assignment accepted',
    );
    this.deps.converger()?.submit(assignment, true);
    this.deps.link()?.heartbeatSoon();
  }

  /** The accepted assignment has expired (or carries no expiry): the host acts on nothing. */
  isStale(nowMs: number): boolean {
    const signed = this.keeper.current.assignment;
    if (signed === null) return false;
    if (this.expiryOf?.payload !== signed.payload) {
      let expiresAtMs: number | undefined;
      try {
        expiresAtMs = parseAssignment(signed.payload).expiresAtMs;
      } catch {
        expiresAtMs = undefined;
      }
      this.expiryOf = { payload: signed.payload, expiresAtMs };
    }
    return this.expiryOf.expiresAtMs === undefined || this.expiryOf.expiresAtMs <= nowMs;
  }

  /** No retry of an unsaved assignment after this (the agent is stopping). */
  stop(): void {
    clearTimeout(this.saveRetry);
  }
}
