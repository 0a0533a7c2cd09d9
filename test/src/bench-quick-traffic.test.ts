// `npm run bench -- --quick --only traffic`: real hosts behind nginx and a simulated fleet.
import { expect } from 'vitest';
import { describeQuickBench } from './bench-quick-suite.js';

describeQuickBench({
  groups: ['traffic'],
  ids: ['traffic-rollout', 'traffic-revert', 'traffic-alert-host', 'traffic-alert-fleet', 'traffic-reload-latency', 'traffic-reload'],
  timeoutMs: 200_000,
  more: (report) => expect(report.rows.find((r) => r.id === 'traffic-reload-latency')?.baseline).toMatch(/without reloads/),
});
