import { z } from 'zod';
import { APP_NAME } from '@flotilla/shared';
import { validate } from './request.js';
import type { Alarm } from './types.js';

/** The `source` of every alarm from Alertmanager. */
export const ALERTMANAGER_SOURCE = 'alertmanager';

/** The only payload version understood; a later incompatible one is refused rather than misread. */
export const ALERTMANAGER_PAYLOAD_VERSION = '4';

// Go's time.Time as encoding/json writes it (RFC 3339, up to nanoseconds). A firing alert's
// endsAt is the zero time, 0001-01-01T00:00:00Z.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

const status = z.enum(['firing', 'resolved']);
const kv = z.record(z.string(), z.string());
const timestamp = z.string().regex(RFC3339, 'must be an RFC 3339 timestamp');

/**
 * One alert of a notification. Unknown fields are dropped, not refused: Alertmanager adds fields
 * over time. `fingerprint` is type-checked but optional, as older Alertmanager releases did not
 * send it and nothing here depends on it.
 */
const alertSchema = z.object({
  status,
  labels: kv,
  annotations: kv,
  startsAt: timestamp,
  endsAt: timestamp,
  generatorURL: z.string(),
  fingerprint: z.string().optional(),
});

/**
 * Prometheus Alertmanager's webhook payload, version 4, as its webhook notifier sends it
 * (`webhook_configs` in alertmanager.yml). Every documented field is type-checked; all but
 * `truncatedAlerts` (a later addition, and only informative) are required.
 */
export const alertmanagerPayloadSchema = z.object({
  version: z.literal(ALERTMANAGER_PAYLOAD_VERSION, {
    error: (i) =>
      i.input === undefined
        ? 'is required (expected "4")'
        : `must be "4" (Alertmanager's webhook payload version 4); this payload says ${JSON.stringify(i.input).slice(0, 40)}`,
  }),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().nonnegative().default(0),
  status,
  receiver: z.string(),
  groupLabels: kv,
  commonLabels: kv,
  commonAnnotations: kv,
  externalURL: z.string(),
  alerts: z.array(alertSchema),
});

export type AlertmanagerPayload = z.output<typeof alertmanagerPayloadSchema>;
export type AlertmanagerAlert = AlertmanagerPayload['alerts'][number];

/** Validates a parsed JSON body; throws ValidationError naming the fields at fault. */
export function parseAlertmanagerPayload(value: unknown): AlertmanagerPayload {
  return validate(alertmanagerPayloadSchema, value, 'Alertmanager payload');
}

/** Everything one payload says about one app. */
export interface AppAlerts {
  app: string;
  firing: AlertmanagerAlert[];
  resolved: AlertmanagerAlert[];
}

/** What a payload amounts to, before anyone is asked whether the apps exist. */
export interface AlertmanagerDigest {
  /** Apps named by the payload's alerts, in order of first mention, each once. */
  apps: AppAlerts[];
  /** Alerts without the app label: not Flotilla's business, ignored. */
  withoutAppLabel: number;
  /** App label values that cannot be an app name (so no app of this controller). */
  invalidApps: string[];
  /** Alerts Alertmanager left out (`max_alerts`); their apps are unknown here. */
  truncatedAlerts: number;
}

/**
 * Groups a payload's alerts by the app their `appLabel` names. An app with at least one firing
 * alert is firing (one alarm, however many of its alerts fire); an app with resolved alerts only
 * is recorded, never acted on. The payload's own top-level `status` is not used: it says
 * "firing" when any alert of the group fires, including other apps' alerts.
 */
export function digestAlertmanagerPayload(payload: AlertmanagerPayload, appLabel: string): AlertmanagerDigest {
  const byApp = new Map<string, AppAlerts>();
  const invalid = new Set<string>();
  let withoutAppLabel = 0;
  for (const alert of payload.alerts) {
    const app = Object.hasOwn(alert.labels, appLabel) ? alert.labels[appLabel] : undefined;
    if (app === undefined || app === '') {
      withoutAppLabel++;
      continue;
    }
    if (!APP_NAME.test(app)) {
      invalid.add(app.slice(0, 80));
      continue;
    }
    let entry = byApp.get(app);
    if (!entry) {
      entry = { app, firing: [], resolved: [] };
      byApp.set(app, entry);
    }
    (alert.status === 'firing' ? entry.firing : entry.resolved).push(alert);
  }
  return { apps: [...byApp.values()], withoutAppLabel, invalidApps: [...invalid], truncatedAlerts: payload.truncatedAlerts };
}

const MAX_REASON = 512;
const MAX_LISTED = 10;
const MAX_TEXT = 200;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

function distinct(values: Iterable<string>, max: number): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (!out.includes(v)) out.push(clip(v, MAX_TEXT));
    if (out.length >= max) break;
  }
  return out;
}

/** A URL's origin and path only: user info, query and fragment can carry credentials. */
export function safeUrl(text: string): string | undefined {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return clip(`${url.origin}${url.pathname}`, MAX_TEXT);
  } catch {
    return undefined;
  }
}

/** The earliest of RFC 3339 timestamps that may carry different offsets. */
function earliest(stamps: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const s of stamps) if (best === undefined || Date.parse(s) < Date.parse(best)) best = s;
  return best;
}

/** `HighErrorRate: 5xx above 5% on web (and 2 more alerts)`. */
function reasonFor(firing: readonly AlertmanagerAlert[]): string {
  const first = firing[0] as AlertmanagerAlert;
  const name = first.labels.alertname ?? 'alert';
  const text = first.annotations.summary ?? first.annotations.description ?? first.annotations.message;
  const more = firing.length > 1 ? ` (and ${firing.length - 1} more alert${firing.length > 2 ? 's' : ''})` : '';
  const base = text ? `${name}: ${text}` : name;
  return clip(base.replace(/\s+/g, ' ').trim(), MAX_REASON - more.length) + more;
}

/** The alarm a firing app gets from one payload. */
export function alarmFromAppAlerts(payload: AlertmanagerPayload, entry: AppAlerts, receivedAtMs: number): Alarm {
  const firing = entry.firing;
  if (firing.length === 0) throw new RangeError(`app ${entry.app} has no firing alert in this payload`);
  const severity = firing.map((a) => a.labels.severity).find((s) => s !== undefined && s !== '');
  const externalURL = safeUrl(payload.externalURL);
  const summary: Record<string, unknown> = {
    receiver: clip(payload.receiver, MAX_TEXT),
    groupKey: clip(payload.groupKey, MAX_TEXT),
    firing: firing.length,
    resolved: entry.resolved.length,
    alertnames: distinct(firing.map((a) => a.labels.alertname ?? ''), MAX_LISTED).filter((n) => n !== ''),
    fingerprints: distinct(firing.map((a) => a.fingerprint ?? '').filter((f) => f !== ''), MAX_LISTED),
    startsAt: earliest(firing.map((a) => a.startsAt)),
  };
  if (externalURL) summary.externalURL = externalURL;
  if (payload.truncatedAlerts > 0) summary.truncatedAlerts = payload.truncatedAlerts;
  return {
    app: entry.app,
    source: ALERTMANAGER_SOURCE,
    reason: reasonFor(firing),
    ...(severity !== undefined ? { severity: clip(severity, 64) } : {}),
    receivedAtMs,
    summary,
  };
}
