// Alerts as monitors send them to the controller's HTTP port: Prometheus Alertmanager's webhook
// payload (version 4, exactly the shape its webhook notifier posts) and the generic body. For the
// end-to-end tests, the demo and the revert benchmark.
import { requestTo, type HttpTarget } from './controller-process.js';
import { deadlineMs } from './deadline.js';

/** What the controller answered a webhook with. */
export interface AlertReply {
  status: number;
  body: {
    source?: string;
    apps?: Array<{ app: string; action: string; rolloutId?: string; toVersion?: string; message?: string; firing?: number; resolved?: number }>;
    error?: string;
    [key: string]: unknown;
  };
}

/** One alert of a notification, as Alertmanager renders it. */
export function alertmanagerAlert(app: string, opts: { alertname?: string; summary?: string; status?: 'firing' | 'resolved'; instance?: string } = {}) {
  const alertname = opts.alertname ?? 'HighErrorRate';
  const status = opts.status ?? 'firing';
  const instance = opts.instance ?? `${app}-1:9100`;
  return {
    status,
    labels: { alertname, app, instance, job: app, severity: 'critical' },
    annotations: { summary: opts.summary ?? `${app} answers 7% of requests with 5xx`, runbook_url: `https://runbooks.example.com/${app}` },
    startsAt: new Date(Date.now() - 60_000).toISOString(),
    endsAt: status === 'firing' ? '0001-01-01T00:00:00Z' : new Date().toISOString(),
    generatorURL: 'http://prometheus.example.internal:9090/graph?g0.expr=job%3Aerror_ratio%3Arate2m+%3E+0.05&g0.tab=1',
    fingerprint: Buffer.from(`${app}/${alertname}/${instance}`).toString('hex').slice(0, 16),
  };
}

/** A notification grouping `alerts`, with the fields Alertmanager derives. */
export function alertmanagerNotification(alerts: ReturnType<typeof alertmanagerAlert>[]) {
  const alertname = alerts[0]?.labels.alertname ?? '';
  return {
    receiver: 'flotilla',
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    alerts,
    groupLabels: { alertname },
    commonLabels: { alertname, severity: 'critical' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example.internal:9093',
    version: '4',
    groupKey: `{}/{app=~".+"}:{alertname="${alertname}"}`,
    truncatedAlerts: 0,
  };
}

/** POSTs JSON with the bearer token, as `curl -H 'Authorization: Bearer …' -d @payload.json` does. */
export function postAlert(target: HttpTarget, path: string, body: unknown, token: string): Promise<AlertReply> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = requestTo(
      target,
      {
        path,
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        timeout: deadlineMs(30_000),
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: data ? (JSON.parse(data) as AlertReply['body']) : {} });
          } catch (err) {
            reject(new Error(`the controller answered ${res.statusCode} with something that is not JSON: ${data.slice(0, 200)} (${String(err)})`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${path} timed out`)));
    req.on('error', reject);
    req.end(text);
  });
}

/** An Alertmanager notification firing for `app`, posted to the controller. */
export function fireAlertmanager(target: HttpTarget, token: string, app: string, opts: Parameters<typeof alertmanagerAlert>[1] = {}): Promise<AlertReply> {
  return postAlert(target, '/v1/alerts/alertmanager', alertmanagerNotification([alertmanagerAlert(app, opts)]), token);
}
