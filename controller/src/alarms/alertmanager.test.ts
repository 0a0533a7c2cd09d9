import { describe, expect, it } from 'vitest';
import { ValidationError } from '@flotilla/shared';
import { alarmFromAppAlerts, digestAlertmanagerPayload, parseAlertmanagerPayload, safeUrl } from './alertmanager.js';
import { RECORDED_NOTIFICATIONS, alertmanagerAlert, alertmanagerPayload } from './testing.js';

function parseError(value: unknown): ValidationError {
  try {
    parseAlertmanagerPayload(value);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected the payload to be refused');
}

describe('parseAlertmanagerPayload', () => {
  it('reads a grouped multi-app notification exactly as Alertmanager sends it', () => {
    const payload = parseAlertmanagerPayload(JSON.parse(RECORDED_NOTIFICATIONS.firing));
    expect(payload.alerts).toHaveLength(3);
    expect(payload.groupKey).toBe('{}/{app=~".+"}:{alertname="HighErrorRate"}');

    const digest = digestAlertmanagerPayload(payload, 'app');
    expect(digest.apps.map((a) => [a.app, a.firing.length, a.resolved.length])).toEqual([
      ['api', 1, 0],
      ['web', 2, 0],
    ]);

    const web = alarmFromAppAlerts(payload, digest.apps[1]!, 1234);
    expect(web).toEqual({
      app: 'web',
      source: 'alertmanager',
      reason: 'HighErrorRate: web answers 7% of requests with 5xx (and 1 more alert)',
      severity: 'critical',
      receivedAtMs: 1234,
      summary: {
        receiver: 'flotilla',
        groupKey: '{}/{app=~".+"}:{alertname="HighErrorRate"}',
        firing: 2,
        resolved: 0,
        alertnames: ['HighErrorRate'],
        fingerprints: ['5362d42a22e19119', 'd8047ed2246505c7'],
        startsAt: '2026-11-21T22:41:07Z',
        externalURL: 'http://alertmanager.example.internal:9093/',
      },
    });
    expect(alarmFromAppAlerts(payload, digest.apps[0]!, 0).severity).toBe('warning');
  });

  it('tells resolved alerts from firing ones in a group that is still firing', () => {
    const payload = parseAlertmanagerPayload(JSON.parse(RECORDED_NOTIFICATIONS.partlyResolved));
    expect(payload.status).toBe('firing');
    const digest = digestAlertmanagerPayload(payload, 'app');
    expect(digest.apps.map((a) => [a.app, a.firing.length, a.resolved.length])).toEqual([
      ['api', 0, 1],
      ['web', 2, 0],
    ]);
  });

  it('reads times with offsets and nanoseconds as Go writes them', () => {
    const alerts = [
      { ...alertmanagerAlert({ app: 'web' }), startsAt: '2024-05-02T10:15:30.123456789Z' },
      { ...alertmanagerAlert({ app: 'web' }), startsAt: '2024-05-02T10:15:45.5+02:00' },
    ];
    const payload = parseAlertmanagerPayload(alertmanagerPayload(alerts));
    const alarm = alarmFromAppAlerts(payload, digestAlertmanagerPayload(payload, 'app').apps[0]!, 0);
    // 10:15:45.5+02:00 is 08:15:45.5Z, the earlier of the two.
    expect(alarm.summary.startsAt).toBe('2024-05-02T10:15:45.5+02:00');
  });

  it('tolerates fields Alertmanager added later, at the top and in alerts', () => {
    const raw = alertmanagerPayload([{ ...alertmanagerAlert({ app: 'web' }), silenceURL: 'http://am/silence', values: { B: 1 } }], {
      notification_reason: 'new_alerts',
      orgId: 1,
    });
    const payload = parseAlertmanagerPayload(raw);
    expect(payload.alerts[0]?.labels.app).toBe('web');
    expect(payload).not.toHaveProperty('notification_reason');
  });

  it('accepts a payload without truncatedAlerts or fingerprints (older Alertmanager releases)', () => {
    const alert = alertmanagerAlert({ app: 'web' });
    delete alert.fingerprint;
    const raw = alertmanagerPayload([alert]);
    delete raw.truncatedAlerts;
    const payload = parseAlertmanagerPayload(raw);
    expect(payload.truncatedAlerts).toBe(0);
    expect(alarmFromAppAlerts(payload, digestAlertmanagerPayload(payload, 'app').apps[0]!, 0).summary.fingerprints).toEqual([]);
  });

  it('refuses a missing required field, naming it', () => {
    for (const field of ['groupKey', 'status', 'receiver', 'groupLabels', 'commonLabels', 'commonAnnotations', 'externalURL', 'alerts']) {
      const raw = alertmanagerPayload([alertmanagerAlert({ app: 'web' })]);
      delete raw[field];
      expect(parseError(raw).message).toContain(`${field}: is required`);
    }
    for (const field of ['status', 'labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL']) {
      const raw = alertmanagerPayload([alertmanagerAlert(), alertmanagerAlert({ app: 'web' })]);
      delete (raw.alerts as Array<Record<string, unknown>>)[1]![field];
      expect(parseError(raw).message).toContain(`alerts[1].${field}: is required`);
    }
  });

  it('refuses wrong types, naming the field', () => {
    const cases: Array<[(p: Record<string, unknown>) => void, string]> = [
      [(p) => (p.alerts = {}), 'alerts: Invalid input: expected array'],
      [(p) => (p.truncatedAlerts = '0'), 'truncatedAlerts: Invalid input: expected number'],
      [(p) => (p.truncatedAlerts = -1), 'truncatedAlerts:'],
      [(p) => (p.status = 'pending'), 'status: Invalid option'],
      [(p) => ((p.alerts as Array<Record<string, unknown>>)[0]!.status = 'FIRING'), 'alerts[0].status: Invalid option'],
      [(p) => (((p.alerts as Array<Record<string, unknown>>)[0]!.labels as Record<string, unknown>).app = 7), 'alerts[0].labels.app: Invalid input: expected string'],
      [(p) => ((p.alerts as Array<Record<string, unknown>>)[0]!.startsAt = 'yesterday'), 'alerts[0].startsAt: must be an RFC 3339 timestamp'],
      [(p) => ((p.alerts as Array<Record<string, unknown>>)[0]!.annotations = null), 'alerts[0].annotations: Invalid input: expected record'],
      [(p) => (p.groupLabels = ['alertname']), 'groupLabels: Invalid input: expected record'],
    ];
    for (const [spoil, message] of cases) {
      const raw = alertmanagerPayload([alertmanagerAlert({ app: 'web' })]);
      spoil(raw);
      expect(parseError(raw).message).toContain(message);
    }
    expect(parseError([]).message).toContain('(body): Invalid input: expected object, received array');
  });

  it('refuses another payload version rather than misread it', () => {
    expect(parseError(alertmanagerPayload([], { version: '5' })).message).toContain('version: must be "4"');
    expect(parseError(alertmanagerPayload([], { version: 4 })).message).toContain('version: must be "4"');
  });

  it('lists every fault in the details, the first few in the message', () => {
    const err = parseError({ version: '4' });
    expect(err.message).toMatch(/\(and \d+ more\)$/);
    expect((err.details.issues as unknown[]).length).toBeGreaterThan(3);
  });
});

describe('digestAlertmanagerPayload', () => {
  it('gives each app once, firing if any of its alerts fires, resolved-only apps apart', () => {
    const payload = parseAlertmanagerPayload(
      alertmanagerPayload([
        alertmanagerAlert({ app: 'web', instance: 'a' }),
        alertmanagerAlert({ app: 'api', status: 'resolved' }),
        alertmanagerAlert({ app: 'web', instance: 'b', status: 'resolved' }),
        alertmanagerAlert({ app: 'web', instance: 'c' }),
        alertmanagerAlert({ app: 'billing', alertname: 'LatencyHigh', severity: 'page' }),
        alertmanagerAlert({}),
        alertmanagerAlert({ labels: { app: '' } }),
        alertmanagerAlert({ app: 'Web Frontend' }),
      ]),
    );
    const digest = digestAlertmanagerPayload(payload, 'app');
    expect(digest.apps.map((a) => ({ app: a.app, firing: a.firing.length, resolved: a.resolved.length }))).toEqual([
      { app: 'web', firing: 2, resolved: 1 },
      { app: 'api', firing: 0, resolved: 1 },
      { app: 'billing', firing: 1, resolved: 0 },
    ]);
    expect(digest.withoutAppLabel).toBe(2);
    expect(digest.invalidApps).toEqual(['Web Frontend']);

    const billing = alarmFromAppAlerts(payload, digest.apps[2]!, 0);
    expect(billing.severity).toBe('page');
    expect(billing.reason).toBe('LatencyHigh: LatencyHigh on billing-1.example.internal:9100');
    expect(() => alarmFromAppAlerts(payload, digest.apps[1]!, 0)).toThrow(/no firing alert/);
  });

  it('reads the app from the configured label', () => {
    const payload = parseAlertmanagerPayload(
      alertmanagerPayload([alertmanagerAlert({ labels: { service: 'web' } }), alertmanagerAlert({ app: 'api' })]),
    );
    const digest = digestAlertmanagerPayload(payload, 'service');
    expect(digest.apps.map((a) => a.app)).toEqual(['web']);
    expect(digest.withoutAppLabel).toBe(1);
  });

  it('bounds the reason and keeps credentials out of the summary', () => {
    const payload = parseAlertmanagerPayload(
      alertmanagerPayload([alertmanagerAlert({ app: 'web', summary: 'x'.repeat(5000) })], {
        externalURL: 'https://admin:hunter2@alertmanager.example.com:9093/am?token=abc#frag',
        truncatedAlerts: 3,
      }),
    );
    const alarm = alarmFromAppAlerts(payload, digestAlertmanagerPayload(payload, 'app').apps[0]!, 0);
    expect(alarm.reason.length).toBeLessThanOrEqual(512);
    expect(alarm.summary.externalURL).toBe('https://alertmanager.example.com:9093/am');
    expect(alarm.summary.truncatedAlerts).toBe(3);
    expect(JSON.stringify(alarm)).not.toContain('hunter2');
    expect(safeUrl('javascript:alert(1)')).toBeUndefined();
    expect(safeUrl('not a url')).toBeUndefined();
  });
});
