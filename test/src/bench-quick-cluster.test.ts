// `npm run bench -- --quick --only cluster`: two small NATS clusters, controllers, one leader kill.
import { describeQuickBench } from './bench-quick-suite.js';

describeQuickBench({
  groups: ['cluster'],
  ids: ['cluster-failover', 'cluster-alert-revert', 'cluster-fetch-cold', 'cluster-fetch-warm'],
  idPatterns: [/^cluster-hosts-\d+$/],
  timeoutMs: 240_000,
});
