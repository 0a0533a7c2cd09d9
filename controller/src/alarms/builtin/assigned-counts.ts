/** What counting needs of the assignments: every host that has one, and the apps it is assigned. */
export interface AssignmentIndex {
  hostIds(): Iterable<string>;
  appsOf(hostId: string): Iterable<string>;
}

/**
 * How many hosts are assigned each app, for the alarms' quorum. Counting walks every host
 * (O(hosts)), so the counts are rebuilt at most once per `refreshMs` and read from memory in
 * between: at 25,000 hosts that is one walk of 25,000 map look-ups per app every few seconds,
 * not one per heartbeat. A count that lags a rollout by a few seconds only moves how many hosts
 * must agree, never which hosts count.
 */
export class AssignedHostCounts {
  private counts = new Map<string, number>();
  private builtAtMs = -Infinity;

  constructor(
    private readonly index: AssignmentIndex,
    private readonly now: () => number,
    private readonly refreshMs = 5_000,
  ) {}

  hostsAssigned(app: string): number {
    const now = this.now();
    if (now - this.builtAtMs >= this.refreshMs) {
      const counts = new Map<string, number>();
      for (const hostId of this.index.hostIds()) {
        for (const name of this.index.appsOf(hostId)) counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      this.counts = counts;
      this.builtAtMs = now;
    }
    return this.counts.get(app) ?? 0;
  }
}
