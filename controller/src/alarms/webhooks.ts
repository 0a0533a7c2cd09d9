import type { IncomingMessage, ServerResponse } from 'node:http';
import { APP_NAME, FlotillaError, NotFoundError, UnavailableError, errorMessage, httpStatusOf, type Logger } from '@flotilla/shared';
import { sendJson } from '../http.js';
import { alarmFromAppAlerts, digestAlertmanagerPayload, parseAlertmanagerPayload, type AlertmanagerAlert } from './alertmanager.js';
import { alarmFromGenericAlert, parseGenericAlert } from './generic.js';
import type { AlarmMetrics } from './metrics.js';
import { alertSourceCheck, assertSourceCovers, type AlertSource } from '../auth/alert-sources.js';
import { checkJsonContentType, discardBody, parseJson, readBody } from './request.js';
import type { Alarm, AlarmOutcome, AlarmSink } from './types.js';

export const ALERTMANAGER_PATH = '/v1/alerts/alertmanager';
export const GENERIC_ALERT_PATH = '/v1/alerts';

export interface AlertRoutesOptions {
  /** Where alarms go (the rollout manager). */
  sink: AlarmSink;
  /** The bearer token callers must send; without one both routes answer 503 (webhooks off). */
  token: string | undefined;
  /** Named sources, each limited to its apps. @default [] */
  sources?: readonly AlertSource[];
  /** The Alertmanager label that names the app. @default 'app' */
  appLabel?: string;
  /** The largest body accepted. @default 1048576 (1 MiB) */
  maxBodyBytes?: number;
  /** The controller's logger; the routes log under `component: 'alerts'`. */
  logger: Logger;
  metrics?: AlarmMetrics;
  /** @default Date.now */
  now?: () => number;
}

/** A route for the controller's HttpServer: `http.route(r.method, r.path, r.handler)`. */
export interface AlertRoute {
  readonly method: 'POST';
  readonly path: string;
  readonly handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/** What became of one app in a webhook request (the 202 answer lists one per app). */
export interface AppResult {
  app: string;
  /** Alertmanager only: the app's firing and resolved alerts in this payload. */
  firing?: number;
  resolved?: number;
  /** The sink's action, `resolved-recorded` for an app with resolved alerts only, or `error`. */
  action: AlarmOutcome['action'] | 'resolved-recorded' | 'error';
  rolloutId?: string;
  toVersion?: string;
  message?: string;
}

/** The JSON answer of a webhook that was accepted (202), or partly failed (503). */
export interface AlertAnswer {
  source: string;
  apps: AppResult[];
  /** Apps the payload named that the controller does not know (Alertmanager only). */
  unknownApps?: string[];
  ignored?: { withoutAppLabel: number; invalidApps: string[] };
  notes?: string[];
  error?: string;
}

interface Handled {
  status: number;
  answer: AlertAnswer;
}

export const DEFAULT_APP_LABEL = 'app';
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Metric label for a source: callers name generic sources freely, which must not mint series. */
function sourceLabel(source: string): string {
  return source.startsWith('webhook') ? 'webhook' : source;
}

/**
 * The two alert webhooks:
 * - `POST /v1/alerts/alertmanager`: Prometheus Alertmanager's webhook payload (version 4) as is.
 * - `POST /v1/alerts`: `{app, reason, severity?, source?}`.
 *
 * Checks, in order, each answered at once: webhooks configured (else 503), bearer token (401),
 * `Content-Type: application/json` (415), size (413), JSON (400), schema (400 naming the field),
 * apps known (404). Only then is the sink called, so an invalid request changes nothing.
 * Success is 202 with what happened per app; a sink failure is 503 (Alertmanager retries 5xx;
 * `raise` is idempotent, so a retry cannot revert twice).
 */
export function alertRoutes(opts: AlertRoutesOptions): AlertRoute[] {
  const logger = opts.logger.child({ component: 'alerts' });
  const authorize = alertSourceCheck(opts.token, opts.sources ?? []);
  const appLabel = opts.appLabel ?? DEFAULT_APP_LABEL;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const now = opts.now ?? Date.now;
  const { sink, metrics } = opts;
  // How much of a refused body is read and thrown away so that its sender gets the answer;
  // a sender that goes on past this is cut off.
  const lingerBytes = Math.max(8 * maxBodyBytes, 1024 * 1024);

  const handle =
    (route: 'alertmanager' | 'generic', work: (body: unknown, receivedAtMs: number, source: AlertSource) => Promise<Handled>) =>
    async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const receivedAtMs = now();
      let status: number;
      try {
        const source = authorize(req);
        checkJsonContentType(req);
        const body = parseJson(await readBody(req, maxBodyBytes));
        const handled = await work(body, receivedAtMs, source);
        status = handled.status;
        sendJson(res, status, handled.answer);
      } catch (err) {
        status = httpStatusOf(err);
        const body: Record<string, unknown> = { error: errorMessage(err) };
        if (err instanceof FlotillaError) {
          body.code = err.code;
          if (Array.isArray(err.details.unknownApps)) body.unknownApps = err.details.unknownApps;
          if (Array.isArray(err.details.issues)) body.issues = err.details.issues;
        }
        if (status === 401) res.setHeader('www-authenticate', 'Bearer realm="flotilla"');
        if (status >= 500) logger.error({ route, status, err }, 'alert webhook failed');
        else logger.warn({ route, status, err }, 'alert webhook refused');
        if (!res.headersSent) sendJson(res, status, body);
        discardBody(req, lingerBytes);
      }
      metrics?.requests.inc({ route, code: String(status) });
    };

  /** Hands one alarm over; a failure becomes that app's `error` result. */
  async function raise(alarm: Alarm, extra: Pick<AppResult, 'firing' | 'resolved'> = {}): Promise<AppResult> {
    try {
      const outcome = await sink.raise(alarm);
      metrics?.raised.inc({ source: sourceLabel(alarm.source), outcome: outcome.action });
      logger.info({ app: alarm.app, source: alarm.source, reason: alarm.reason, action: outcome.action, rolloutId: outcome.rolloutId }, 'alarm handed over');
      return { app: alarm.app, ...extra, ...outcome };
    } catch (err) {
      metrics?.raised.inc({ source: sourceLabel(alarm.source), outcome: 'error' });
      logger.error({ app: alarm.app, source: alarm.source, err }, 'alarm could not be handed over');
      return { app: alarm.app, ...extra, action: 'error', message: errorMessage(err) };
    }
  }

  async function knows(app: string): Promise<boolean> {
    try {
      return await sink.knowsApp(app);
    } catch (err) {
      throw new UnavailableError(`cannot tell whether app "${app}" exists: ${errorMessage(err)}`, { cause: err });
    }
  }

  function finish(answer: AlertAnswer): Handled {
    const failed = answer.apps.filter((a) => a.action === 'error').map((a) => a.app);
    if (failed.length === 0) return { status: 202, answer };
    return {
      status: 503,
      answer: { ...answer, error: `the alarm for ${failed.join(', ')} could not be handed over; send it again (it is idempotent)` },
    };
  }

  const alertmanager = handle('alertmanager', async (body, receivedAtMs, source) => {
    const payload = parseAlertmanagerPayload(body);
    const digest = digestAlertmanagerPayload(payload, appLabel);
    assertSourceCovers(source, digest.apps.map((a) => a.app));
    // Every lookup before any raise: a payload refused for its apps changes nothing.
    const known = await Promise.all(digest.apps.map((a) => knows(a.app)));
    const knownApps = digest.apps.filter((_, i) => known[i]);
    const unknownApps = digest.apps.filter((_, i) => !known[i]).map((a) => a.app);
    countAlerts(payload.alerts, new Set(knownApps.map((a) => a.app)));

    const notes: string[] = [];
    if (digest.withoutAppLabel > 0) {
      notes.push(`${plural(digest.withoutAppLabel, 'alert')} without the "${appLabel}" label ignored`);
    }
    if (digest.invalidApps.length > 0) {
      notes.push(`"${appLabel}" label values that are not app names ignored: ${digest.invalidApps.join(', ')}`);
    }
    if (unknownApps.length > 0) notes.push(`apps not known to this controller ignored: ${unknownApps.join(', ')}`);
    if (digest.truncatedAlerts > 0) {
      notes.push(`Alertmanager left out ${plural(digest.truncatedAlerts, 'alert')} (max_alerts); their apps are not seen here`);
    }

    if (digest.apps.length > 0 && knownApps.length === 0) {
      throw new NotFoundError(`no app in this payload is known to the controller: ${unknownApps.join(', ')}`, {
        details: { unknownApps },
      });
    }

    const apps = await Promise.all(
      knownApps.map((entry) => {
        const counts = { firing: entry.firing.length, resolved: entry.resolved.length };
        if (entry.firing.length > 0) return raise(alarmFromAppAlerts(payload, entry, receivedAtMs), counts);
        logger.info(
          { app: entry.app, resolved: entry.resolved.length, alertnames: entry.resolved.map((a) => a.labels.alertname).slice(0, 10) },
          'alertmanager alerts resolved (recorded only)',
        );
        return Promise.resolve<AppResult>({ app: entry.app, ...counts, action: 'resolved-recorded' });
      }),
    );
    if (apps.length === 0) notes.push(`no alert names an app with the "${appLabel}" label: nothing to do`);
    logger.info(
      {
        receiver: payload.receiver,
        alerts: payload.alerts.length,
        apps: apps.map((a) => `${a.app}:${a.action}`),
        unknownApps,
        withoutAppLabel: digest.withoutAppLabel,
        truncatedAlerts: digest.truncatedAlerts,
      },
      'alertmanager notification handled',
    );
    const answer: AlertAnswer = { source: 'alertmanager', apps };
    if (unknownApps.length > 0) answer.unknownApps = unknownApps;
    if (digest.withoutAppLabel > 0 || digest.invalidApps.length > 0) {
      answer.ignored = { withoutAppLabel: digest.withoutAppLabel, invalidApps: digest.invalidApps };
    }
    if (notes.length > 0) answer.notes = notes;
    return finish(answer);
  });

  const generic = handle('generic', async (body, receivedAtMs, source) => {
    const alarm = alarmFromGenericAlert(parseGenericAlert(body), receivedAtMs);
    assertSourceCovers(source, [alarm.app]);
    if (!(await knows(alarm.app))) {
      throw new NotFoundError(`app "${alarm.app}" is not known to this controller`, { details: { unknownApps: [alarm.app] } });
    }
    return finish({ source: alarm.source, apps: [await raise(alarm)] });
  });

  function countAlerts(alerts: readonly AlertmanagerAlert[], known: ReadonlySet<string>): void {
    if (!metrics) return;
    for (const alert of alerts) {
      const app = Object.hasOwn(alert.labels, appLabel) ? alert.labels[appLabel] : undefined;
      let result: string;
      if (app === undefined || app === '') result = 'no-app-label';
      else if (!APP_NAME.test(app)) result = 'invalid-app';
      else if (!known.has(app)) result = 'unknown-app';
      else result = alert.status === 'firing' ? 'acted' : 'recorded';
      metrics.alerts.inc({ status: alert.status, result });
    }
  }

  return [
    { method: 'POST', path: ALERTMANAGER_PATH, handler: alertmanager },
    { method: 'POST', path: GENERIC_ALERT_PATH, handler: generic },
  ];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
