import type { AppStatusReport, LoadFigures } from '@flotilla/shared';
import type { Alarm, AlarmOutcome, AlarmSink } from './types.js';

/**
 * Test helpers: Alertmanager payloads of the exact shape its webhook notifier sends, and an
 * in-memory sink that behaves as the rollout manager promises (one revert per app, however many
 * alarms).
 */

export interface AlertInput {
  app?: string;
  status?: 'firing' | 'resolved';
  alertname?: string;
  instance?: string;
  severity?: string;
  summary?: string;
  fingerprint?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

let fingerprintCounter = 0;

/** One alert as Alertmanager renders it (template.Alert). */
export function alertmanagerAlert(input: AlertInput = {}): Record<string, unknown> {
  const status = input.status ?? 'firing';
  const alertname = input.alertname ?? 'HighErrorRate';
  const labels: Record<string, string> = {
    alertname,
    instance: input.instance ?? `${input.app ?? 'node'}-1.example.internal:9100`,
    job: input.app ?? 'node',
    severity: input.severity ?? 'critical',
    ...(input.app !== undefined ? { app: input.app } : {}),
    ...input.labels,
  };
  return {
    status,
    labels,
    annotations: {
      summary: input.summary ?? `${alertname} on ${labels.instance}`,
      description: 'The ratio of 5xx responses has been above 5% for 2 minutes.',
      runbook_url: 'https://runbooks.example.com/high-error-rate',
      ...input.annotations,
    },
    startsAt: '2024-05-02T10:15:30.123456789Z',
    endsAt: status === 'firing' ? '0001-01-01T00:00:00Z' : '2024-05-02T10:25:30.987654321Z',
    generatorURL: 'http://prometheus.example.internal:9090/graph?g0.expr=job%3Aerror_ratio%3Arate5m+%3E+0.05&g0.tab=1',
    fingerprint: input.fingerprint ?? (++fingerprintCounter).toString(16).padStart(16, '0'),
  };
}

/**
 * A notification (webhook.Message) grouping `alerts`: groupLabels, commonLabels and
 * commonAnnotations are derived as Alertmanager derives them.
 */
export function alertmanagerPayload(
  alerts: Array<Record<string, unknown>>,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const labelSets = alerts.map((a) => a.labels as Record<string, string>);
  const annotationSets = alerts.map((a) => a.annotations as Record<string, string>);
  const common = (sets: Array<Record<string, string>>) => {
    if (sets.length === 0) return {};
    const out: Record<string, string> = { ...sets[0] };
    for (const s of sets.slice(1)) for (const k of Object.keys(out)) if (s[k] !== out[k]) delete out[k];
    return out;
  };
  const alertname = labelSets[0]?.alertname;
  return {
    receiver: 'flotilla',
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    alerts,
    groupLabels: alertname !== undefined ? { alertname } : {},
    commonLabels: common(labelSets),
    commonAnnotations: common(annotationSets),
    externalURL: 'http://alertmanager.example.internal:9093',
    version: '4',
    groupKey: `{}/{severity="critical"}:{alertname="${alertname ?? ''}"}`,
    truncatedAlerts: 0,
    ...overrides,
  };
}

/** An AlarmSink that keeps every alarm and reverts each app once, as the real one promises. */
export class MemoryAlarmSink implements AlarmSink {
  readonly raised: Alarm[] = [];
  readonly lookups: string[] = [];
  readonly reverted = new Set<string>();
  /** Makes the next calls fail, as an unreachable store would. */
  failing = false;
  /** Resolves raises only after this many event-loop turns (0: at once), so that calls overlap. */
  delayTurns = 0;

  constructor(private readonly known: Iterable<string>) {}

  async knowsApp(app: string): Promise<boolean> {
    this.lookups.push(app);
    if (this.failing) throw new Error('store unreachable');
    return [...this.known].includes(app);
  }

  async raise(alarm: Alarm): Promise<AlarmOutcome> {
    if (this.failing) throw new Error('store unreachable');
    this.raised.push(alarm);
    const first = !this.reverted.has(alarm.app);
    this.reverted.add(alarm.app);
    for (let i = 0; i < this.delayTurns; i++) await new Promise((resolve) => setImmediate(resolve));
    return first
      ? { action: 'reverted', rolloutId: `r-${alarm.app}`, toVersion: '1.0.0' }
      : { action: 'already-reverting', rolloutId: `r-${alarm.app}`, toVersion: '1.0.0' };
  }
}

/**
 * Two notifications exactly as Alertmanager 0.25 sent them to a webhook receiver (captured from a
 * real Alertmanager; only the external URL's host name was replaced). The first groups firing
 * alerts of two apps; the second is the same group after the `api` alert resolved.
 */
export const RECORDED_NOTIFICATIONS = {
  /** `web` firing on two hosts, `api` firing on one. */
  firing: String.raw`{"receiver":"flotilla","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","app":"api","instance":"api-1:9100","job":"api","severity":"warning"},"annotations":{"summary":"api answers 9% of requests with 5xx"},"startsAt":"2026-11-21T22:41:07Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example.internal:9090/graph?g0.expr=job%3Aerror_ratio%3Arate2m+%3E+0.05\u0026g0.tab=1","fingerprint":"ef91552be8abcfe6"},{"status":"firing","labels":{"alertname":"HighErrorRate","app":"web","instance":"web-1:9100","job":"web","severity":"critical","zone":"eu-1"},"annotations":{"runbook_url":"https://runbooks.example.com/web","summary":"web answers 7% of requests with 5xx"},"startsAt":"2026-11-21T22:41:07Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example.internal:9090/graph?g0.expr=job%3Aerror_ratio%3Arate2m+%3E+0.05\u0026g0.tab=1","fingerprint":"5362d42a22e19119"},{"status":"firing","labels":{"alertname":"HighErrorRate","app":"web","instance":"web-2:9100","job":"web","severity":"critical","zone":"eu-2"},"annotations":{"runbook_url":"https://runbooks.example.com/web","summary":"web answers 6% of requests with 5xx"},"startsAt":"2026-11-21T22:41:07Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example.internal:9090/graph?g0.expr=job%3Aerror_ratio%3Arate2m+%3E+0.05\u0026g0.tab=1","fingerprint":"d8047ed2246505c7"}],"groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{"alertname":"HighErrorRate"},"commonAnnotations":{},"externalURL":"http://alertmanager.example.internal:9093","version":"4","groupKey":"{}/{app=~\".+\"}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0}`,
  /** `api` resolved, `web` still firing; the group's own status stays "firing". */
  partlyResolved: String.raw`{"receiver":"flotilla","status":"firing","alerts":[{"status":"resolved","labels":{"alertname":"HighErrorRate","app":"api","instance":"api-1:9100","job":"api","severity":"warning"},"annotations":{"summary":"api answers 9% of requests with 5xx"},"startsAt":"2026-11-21T22:41:07Z","endsAt":"2026-11-21T22:41:10Z","generatorURL":"http://prometheus.example.internal:9090/graph?g0.expr=job%3Aerror_ratio%3Arate2m+%3E+0.05\u0026g0.tab=1","fingerprint":"ef91552be8abcfe6"},{"status":"firing","labels":{"alertname":"HighErrorRate","app":"web","instance":"web-1:9100","job":"web","severity":"critical","zone":"eu-1"},"annotations":{"runbook_url":"https://runbooks.example.com/web","summary":"web answers 7% of requests with 5xx"},"startsAt":"2026-11-21T22:41:07Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example.internal:9090/graph?g0.expr=job%3Aerror_ratio%3Arate2m+%3E+0.05\u0026g0.tab=1","fingerprint":"5362d42a22e19119"},{"status":"firing","labels":{"alertname":"HighErrorRate","app":"web","instance":"web-2:9100","job":"web","severity":"critical","zone":"eu-2"},"annotations":{"runbook_url":"https://runbooks.example.com/web","summary":"web answers 6% of requests with 5xx"},"startsAt":"2026-11-21T22:41:07Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example.internal:9090/graph?g0.expr=job%3Aerror_ratio%3Arate2m+%3E+0.05\u0026g0.tab=1","fingerprint":"d8047ed2246505c7"}],"groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{"alertname":"HighErrorRate"},"commonAnnotations":{},"externalURL":"http://alertmanager.example.internal:9093","version":"4","groupKey":"{}/{app=~\".+\"}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0}`,
} as const;

/** A host's load well under any limit. */
export const IDLE_LOAD: LoadFigures = { cpuPercent: 10, memUsedBytes: 2e9, memTotalBytes: 8e9, diskFreeBytes: 1e10 };

/** One app's status in a heartbeat: running and healthy unless `over` says otherwise. */
export function appReport(app: string, over: Partial<AppStatusReport> = {}): AppStatusReport {
  return {
    app,
    desiredVersion: '2.0.0',
    activeVersion: '2.0.0',
    processState: 'running',
    pid: 100,
    restarts: 0,
    health: 'healthy',
    healthSinceMs: 0,
    installPhase: 'idle',
    installVersion: null,
    error: null,
    updatedAtMs: 0,
    ...over,
  };
}
