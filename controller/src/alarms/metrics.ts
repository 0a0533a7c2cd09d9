import { Counter, type Registry } from 'prom-client';

/** The alarm sources' Prometheus metrics, registered in the controller's own registry. */
export class AlarmMetrics {
  /** Webhook requests by route (`alertmanager`, `generic`) and HTTP status. */
  readonly requests: Counter<'route' | 'code'>;
  /** Alertmanager alerts seen, by status (`firing`, `resolved`) and what became of them. */
  readonly alerts: Counter<'status' | 'result'>;
  /** Alarms handed to the rollout manager, by source and what it did (or `error`). */
  readonly raised: Counter<'source' | 'outcome'>;
  /** Built-in alarm episodes that ended, by source. */
  readonly cleared: Counter<'source'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'flotilla_alert_webhook_requests_total',
      help: 'Alert webhook requests by route (alertmanager, generic) and HTTP status code.',
      labelNames: ['route', 'code'],
      registers,
    });
    this.alerts = new Counter({
      name: 'flotilla_alertmanager_alerts_total',
      help: 'Alerts received from Alertmanager by status and result (acted, recorded, unknown-app, no-app-label, invalid-app).',
      labelNames: ['status', 'result'],
      registers,
    });
    this.raised = new Counter({
      name: 'flotilla_alarms_raised_total',
      help: 'Alarms handed to the rollout manager, by source and outcome (reverted, already-reverting, stopped, recorded, error).',
      labelNames: ['source', 'outcome'],
      registers,
    });
    this.cleared = new Counter({
      name: 'flotilla_builtin_alarms_cleared_total',
      help: 'Built-in alarm episodes that ended (the condition cleared), by source.',
      labelNames: ['source'],
      registers,
    });
  }
}
