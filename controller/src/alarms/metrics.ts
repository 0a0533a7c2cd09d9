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
  /**
   * Heartbeat app reports the built-in alarms ignored, by reason (`not-assigned`: the host is not
   * assigned the app; `other-version`: it runs another version than its assigned one). No app
   * label: the app name comes from the host, and a hostile one could invent endless names.
   */
  readonly ignoredReports: Counter<'reason'>;

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
    this.ignoredReports = new Counter({
      name: 'flotilla_builtin_alarm_ignored_reports_total',
      help: 'Heartbeat app reports the built-in alarms ignored, by reason (not-assigned, other-version).',
      labelNames: ['reason'],
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
