// `npm run bench -- --quick`: the fleet, rollout, assignment and artifact figures (traffic and
// cluster have files of their own, so that the suite runs them beside this one).
import { expect } from 'vitest';
import { describeQuickBench } from './bench-quick-suite.js';

describeQuickBench({
  groups: ['hosts', 'failure-detection', 'rollout', 'revert', 'assignments', 'fetch', 'unpack', 'footprint'],
  ids: ['rollout', 'revert', 'assign-steps', 'resign', 'fetch-1', 'unpack', 'footprint-idle', 'footprint-deploy'],
  idPatterns: [/^hosts-\d+$/, /^failure-detection-\d+$/, /^fetch-[2-9]\d*$/],
  timeoutMs: 200_000,
  more: (report) => {
    // The baselines are measured in the same run, or the row says why not.
    for (const id of ['fetch-1', 'unpack']) {
      const row = report.rows.find((r) => r.id === id);
      expect(row?.baseline === 'n/a' ? row.notes?.join(' ') : row?.baseline).toMatch(/nginx|tar/);
    }
    expect(report.rows.filter((r) => r.id.startsWith('hosts-')).length).toBeGreaterThanOrEqual(2);
  },
});
