import type { StablePeriodRecord } from './records.js';

/** What the stable rule looks at when `next` becomes an app's stable version. */
export interface StableChange {
  /** The app's stable version now (null: none yet). */
  readonly current: string | null;
  /** The app's stable periods, oldest first. */
  readonly periods: readonly StablePeriodRecord[];
  readonly next: string;
  /** Versions marked bad, including any the same change marks bad. */
  readonly bad: ReadonlySet<string>;
}

/**
 * The one rule for the previous stable version: the most recent version that was stable before
 * `next` and is neither `next` itself nor marked bad. It is where an alarm outside any watch
 * window goes back to by policy, and where `flotilla rollback` goes when every host already runs
 * the stable version, so it must never name a version an alarm or rollback condemned.
 */
export function previousStable(change: StableChange): string | null {
  const candidates = [change.current, ...[...change.periods].reverse().map((p) => p.version)];
  for (const version of candidates) {
    if (version !== null && version !== change.next && !change.bad.has(version)) return version;
  }
  return null;
}
