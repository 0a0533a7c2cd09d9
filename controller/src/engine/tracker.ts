import { DueTimes } from '../due-times.js';
import type { HostTable } from './host-table.js';
import type { HostProgress, RolloutSpec } from './types.js';

/** An assign or revert not acknowledged within this long is emitted again. */
export const ACTION_RETRY_MS = 5_000;

/**
 * The next time a tick can change this host, or null when only events can (the per-host part
 * of `nextWakeMs`).
 */
export function hostDueAt(h: HostProgress, spec: RolloutSpec): number | null {
  switch (h.state) {
    case 'assigned':
    case 'healthy-wait': {
      let at = (h.assignedAtMs ?? 0) + spec.healthyDeadlineMs;
      if (h.healthySinceMs !== null) at = Math.min(at, h.healthySinceMs + spec.minHealthyTimeMs);
      if (h.state === 'assigned' && h.assignAckedAtMs === null && h.assignSentAtMs !== null) {
        at = Math.min(at, h.assignSentAtMs + ACTION_RETRY_MS);
      }
      return at;
    }
    case 'passed':
      return h.unhealthySinceMs === null ? null : h.unhealthySinceMs + spec.minHealthyTimeMs;
    case 'reverting':
      return h.revertSentAtMs === null ? null : h.revertSentAtMs + ACTION_RETRY_MS;
    case 'pending':
    case 'failed':
    case 'skipped':
    case 'reverted':
      return null;
  }
}

/** Walks every host of a rollout as it is now. */
export type HostWalk = (visit: (host: HostProgress) => void) => void;

/** A host still to pass or fail in its step (skipped hosts do not count). */
function undone(h: HostProgress): boolean {
  return h.state !== 'skipped' && (h.passedAtMs ?? h.failedAtMs) === null;
}

function doneAt(h: HostProgress): number | null {
  return h.state === 'skipped' ? null : (h.passedAtMs ?? h.failedAtMs);
}

/**
 * What the engine derives from a rollout's hosts so that a decision costs the same whatever the
 * number of hosts: when each host next needs a look (earliest first), and how many hosts of
 * each step are still undecided. Kept for the latest state of each rollout and updated as its
 * hosts change; a decision that starts from any other state (an older one, one read from KV)
 * builds it again from that state's hosts.
 */
export class HostTracker {
  private readonly due = new DueTimes<number>();
  private readonly undone: number[];
  private readonly doneAt: number[];

  private constructor(
    private readonly spec: RolloutSpec,
    table: HostTable,
    stepCount: number,
  ) {
    this.undone = new Array<number>(stepCount).fill(0);
    this.doneAt = new Array<number>(stepCount).fill(-Infinity);
    table.forEach((h, position) => {
      const at = hostDueAt(h, spec);
      if (at !== null) this.due.set(position, at);
      this.count(h, 1);
    });
  }

  /** The tracker of this table's state: the one kept for it, else a new one (O(hosts)). */
  static of(table: HostTable, spec: RolloutSpec, stepCount: number): HostTracker {
    const kept = trackers.get(table);
    if (kept !== undefined && kept.spec === spec && kept.undone.length === stepCount) return kept;
    const built = new HostTracker(spec, table, stepCount);
    trackers.set(table, built);
    return built;
  }

  /** This tracker now describes `table` (a decision's result), and no longer `from`. */
  static moved(from: HostTable, to: HostTable, tracker: HostTracker): void {
    if (from === to) return;
    trackers.delete(from);
    trackers.set(to, tracker);
  }

  /** Forgets the tracker of `table` (a decision changed it and was then dropped). */
  static forget(table: HostTable): void {
    trackers.delete(table);
  }

  /** `hosts` walks the hosts as they are now (only read in a case that does not arise). */
  hostChanged(position: number, before: HostProgress, after: HostProgress, hosts: HostWalk): void {
    const at = hostDueAt(after, this.spec);
    if (at === null) this.due.delete(position);
    else this.due.set(position, at);
    const was = doneAt(before);
    const is = doneAt(after);
    if (was !== null && (is === null || is < was || before.step !== after.step)) {
      // A decided host undecided again does not happen; if it ever did, count its step afresh.
      this.recountStep(before.step, hosts);
      if (before.step !== after.step) this.recountStep(after.step, hosts);
      return;
    }
    this.count(before, -1);
    this.count(after, 1);
  }

  /** When the step's last host passed or failed (not before it started); null while any is undecided. */
  stepDoneAt(step: number, startedAtMs: number | null): number | null {
    if ((this.undone[step] ?? 0) > 0) return null;
    return Math.max(startedAtMs ?? 0, this.doneAt[step] ?? -Infinity);
  }

  /** The earliest time a host needs a look; null when none will. */
  earliest(): number | null {
    return this.due.earliest();
  }

  /**
   * Positions of the hosts due at or before `nowMs`, in plan order. They leave the tracker:
   * give each back with `hostChanged` or `keep` once looked at.
   */
  takeDue(nowMs: number): number[] {
    return this.due.takeDue(nowMs).sort((a, b) => a - b);
  }

  /** Puts a host taken with `takeDue` back as it is now. */
  keep(position: number, host: HostProgress): void {
    const at = hostDueAt(host, this.spec);
    if (at === null) this.due.delete(position);
    else this.due.set(position, at);
  }

  private count(h: HostProgress, sign: 1 | -1): void {
    if (undone(h)) this.undone[h.step] = (this.undone[h.step] ?? 0) + sign;
    const at = doneAt(h);
    if (sign === 1 && at !== null && at > (this.doneAt[h.step] ?? -Infinity)) this.doneAt[h.step] = at;
  }

  private recountStep(step: number, hosts: HostWalk): void {
    this.undone[step] = 0;
    this.doneAt[step] = -Infinity;
    hosts((h) => {
      if (h.step === step) this.count(h, 1);
    });
  }
}

const trackers = new WeakMap<HostTable, HostTracker>();
