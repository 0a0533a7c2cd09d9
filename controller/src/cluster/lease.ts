/**
 * The leader lease, decided without I/O. Times are a monotonic clock of this process
 * (performance.now()), never wall clocks: controllers' clocks need not agree, only tick at
 * about the same rate.
 *
 * Why one leader at a time (given clocks that run at about the same rate):
 * - The holder renews by compare-and-set on the `leader` key. It counts its lease from the moment
 *   it *sent* the write that succeeded (t0), and acts as leader only until t0 + leaseMs - marginMs.
 * - A candidate starts counting when it first *reads* a revision of the key, which is after that
 *   write was applied, so after t0. It takes over only when that same revision is still there
 *   leaseMs later, by compare-and-set on that revision: at most one candidate wins, and it wins
 *   no earlier than t0 + leaseMs, marginMs after the old holder stopped acting.
 * - marginMs covers a write the old holder began just before its deadline and that lands late;
 *   the fencing number in every assignment record stops any that still lands after the new
 *   leader wrote the same host (see assignments' fence check).
 */

export interface LeaseSettings {
  /** How long a lease lasts after the renewal that began it. */
  readonly leaseMs: number;
  /** How often the holder renews (well inside leaseMs). */
  readonly renewMs: number;
  /** The holder stops acting this long before its lease ends. */
  readonly marginMs: number;
}

/** The `leader` key as read: who holds it (null when released) and its fencing number. */
export interface LeaderView {
  readonly holder: string | null;
  readonly fence: number;
  /** The KV revision read (the compare-and-set token). */
  readonly revision: number;
}

/** What this controller knows between rounds. */
export interface LeaseMemory {
  /** The revision of the key when this controller first saw it unchanged, and when (monotonic). */
  readonly watching: { readonly revision: number; readonly sinceMs: number } | null;
  /** While leading: the monotonic time after which it must not act. */
  readonly actUntilMs: number | null;
}

export type LeaseAction =
  | { readonly kind: 'create' } // nobody has ever led: create the key with fence 1
  | { readonly kind: 'renew'; readonly revision: number; readonly fence: number }
  | { readonly kind: 'take'; readonly revision: number; readonly fence: number }
  | { readonly kind: 'wait'; readonly memory: LeaseMemory };

/**
 * One round: what to write (or why to wait) given the key as read now. `self` is this
 * controller's id, kept in its data dir: a holder with our id that we are not leading as is this
 * controller before a restart (it had the same data dir, so it is gone), and we take over at
 * once, with a new fencing number all the same.
 */
export function leaseRound(view: LeaderView | null, memory: LeaseMemory, self: string, nowMs: number, settings: LeaseSettings): LeaseAction {
  if (view === null) return { kind: 'create' };
  if (view.holder === self && memory.actUntilMs !== null) return { kind: 'renew', revision: view.revision, fence: view.fence };
  if (view.holder === null || view.holder === self) {
    return { kind: 'take', revision: view.revision, fence: view.fence + 1 };
  }
  const watching = memory.watching?.revision === view.revision ? memory.watching : { revision: view.revision, sinceMs: nowMs };
  if (nowMs - watching.sinceMs >= settings.leaseMs) return { kind: 'take', revision: view.revision, fence: view.fence + 1 };
  return { kind: 'wait', memory: { watching, actUntilMs: null } };
}

/** After a write that began at `sentAtMs` succeeded: act until this monotonic time. */
export function actUntil(sentAtMs: number, settings: LeaseSettings): number {
  return sentAtMs + settings.leaseMs - settings.marginMs;
}

/** Checks the settings make sense: renewals well inside the lease, a margin left after them. */
export function leaseSettingsProblem(s: LeaseSettings): string | null {
  if (s.renewMs * 2 > s.leaseMs - s.marginMs) return 'cluster.renewInterval must be at most half of (cluster.lease - cluster.margin)';
  if (s.marginMs <= 0 || s.marginMs >= s.leaseMs) return 'cluster.margin must be above 0 and below cluster.lease';
  return null;
}
