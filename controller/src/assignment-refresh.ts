// Re-signing for expiry: when each host's assignment is due to be signed again, and the timer
// that re-signs every due one in a batch (one signed root for the hosts that take proofs).
import { createHash } from 'node:crypto';
import type { Assignment, Logger } from '@flotilla/shared';
import { buildAssignment, carriedOf, type AssignmentTrust } from './assignment-content.js';

/**
 * When a host's assignment is due to be signed again: past half its life plus a per-host share
 * of another quarter (so that a fleet written at once is not re-signed at once), or at once when
 * it is of an older key epoch, has no expiry, or carries other release documents than now.
 * Pure: the clock comes in.
 */
export function refreshDueAtMs(assignment: Assignment, hostId: string, ttlMs: number, trust: AssignmentTrust): number {
  if ((assignment.epoch ?? 1) < trust.keyEpoch || assignment.expiresAtMs === undefined) return 0;
  if (carriedOf(assignment) !== expectedCarried(assignment, trust)) return 0;
  const life = assignment.expiresAtMs - assignment.issuedAtMs;
  return assignment.issuedAtMs + Math.floor(life / 2) + Math.floor(jitterFraction(hostId) * (life / 4));
}

/** A host's fixed place in [0, 1): spreads re-signing over time without any state. */
function jitterFraction(hostId: string): number {
  return createHash('sha256').update(hostId).digest().readUInt32BE(0) / 2 ** 32;
}

const carriedMemo = new WeakMap<AssignmentTrust, Map<string, string>>();

/** What an assignment for these apps would carry now; memoised per app set, as fleets share few. */
function expectedCarried(assignment: Assignment, trust: AssignmentTrust): string {
  let memo = carriedMemo.get(trust);
  if (memo === undefined) carriedMemo.set(trust, (memo = new Map()));
  const key = Object.keys(assignment.apps).sort().join(',');
  let text = memo.get(key);
  if (text === undefined) {
    text = carriedOf(buildAssignment({ hostId: 'x', previousSeq: 0, apps: { ...assignment.apps }, nowMs: 0, trust }));
    if (memo.size < 10_000) memo.set(key, text);
  }
  return text;
}

/** The few calls re-signing makes of the assignment writer. */
export interface ResignTarget {
  /** Every host with an assignment. */
  hostIds(): string[];
  current(hostId: string): { readonly assignment: Assignment } | undefined;
  /** Signs these hosts' current apps again with new seqs; resolves to how many failed. */
  resignMany(hostIds: readonly string[]): Promise<number>;
  /** False on a controller that is not leading. */
  mayWrite(): boolean;
}

export interface AssignmentRefreshOptions {
  ttlMs: number;
  trust: AssignmentTrust;
  now: () => number;
  logger: Logger;
}

/**
 * Keeps assignments from expiring: every tick, the hosts whose assignment is past its due time
 * (or that reported holding only an expired one) are re-signed together.
 */
export class AssignmentRefresh {
  /** Hosts whose last heartbeat said they hold only an expired assignment: renewed on the next tick. */
  private readonly staleHosts = new Set<string>();
  private readonly dueAt = new WeakMap<Assignment, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly target: ResignTarget,
    private readonly opts: AssignmentRefreshOptions,
  ) {}

  /** What a heartbeat said of the host's assignment. */
  noteStale(hostId: string, stale: boolean): void {
    if (stale) this.staleHosts.add(hostId);
    else this.staleHosts.delete(hostId);
  }

  isDue(hostId: string): boolean {
    const c = this.target.current(hostId);
    if (c === undefined) return false;
    // Fixed for an assignment (the trust does not change while the controller runs): computed
    // once, so that the minute's scan of 25,000 hosts is a lookup each.
    let due = this.dueAt.get(c.assignment);
    if (due === undefined) this.dueAt.set(c.assignment, (due = refreshDueAtMs(c.assignment, hostId, this.opts.ttlMs, this.opts.trust)));
    return this.staleHosts.has(hostId) || due <= this.opts.now();
  }

  /** Re-signs every host that is due, as one batch: how many were due and how many failed. */
  async refreshDue(): Promise<{ due: number; failed: number }> {
    const due = this.target.hostIds().filter((id) => this.isDue(id));
    if (due.length === 0) return { due: 0, failed: 0 };
    for (const id of due) this.staleHosts.delete(id);
    const failed = await this.target.resignMany(due);
    return { due: due.length, failed };
  }

  /** Re-signs what is due now and then every `intervalMs`, one round at a time. */
  start(intervalMs: number): void {
    const tick = () => {
      if (this.running !== null || !this.target.mayWrite()) return;
      this.running = this.refreshDue()
        .then(({ due, failed }) => {
          if (due > 0) this.opts.logger.info({ due, failed }, 'assignments re-signed');
        })
        .catch((err: unknown) => this.opts.logger.warn({ err }, 'cannot re-sign assignments'))
        .finally(() => {
          this.running = null;
        });
    };
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
    tick();
  }

  /** Stops re-signing and waits for a round in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
