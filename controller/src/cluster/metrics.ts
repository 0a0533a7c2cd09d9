import { Counter, Gauge, type Registry } from 'prom-client';

/** Leadership as Prometheus sees it: who leads is a gauge per controller, changes a counter. */
export class LeadershipMetrics {
  private readonly changes: Counter<'change'>;
  private readonly fence: Gauge;

  constructor(registry: Registry, role: { isLeader(): boolean }) {
    this.changes = new Counter({
      name: 'flotilla_controller_leadership_changes_total',
      help: 'Times this controller gained or lost the leader lease.',
      labelNames: ['change'],
      registers: [registry],
    });
    new Gauge({
      name: 'flotilla_controller_leader',
      help: '1 while this controller holds the leader lease, else 0.',
      registers: [registry],
      // Read at scrape time, so a lapsed lease shows at once.
      collect() {
        this.set(role.isLeader() ? 1 : 0);
      },
    });
    this.fence = new Gauge({ name: 'flotilla_controller_leader_fence', help: 'The fencing number of the leadership this controller last held.', registers: [registry] });
  }

  gained(fence: number): void {
    this.changes.inc({ change: 'gained' });
    this.fence.set(fence);
  }

  lost(): void {
    this.changes.inc({ change: 'lost' });
  }
}
