import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/shared';
import { AlarmMetrics } from './metrics.js';
import { alertmanagerAlert, alertmanagerPayload, MemoryAlarmSink } from './testing.js';
import { ALERTMANAGER_PATH, GENERIC_ALERT_PATH, alertRoutes, type AlertRoutesOptions } from './webhooks.js';

const TOKEN = 'test-token-0123456789abcdef';

/** Requests and responses in memory: the handlers see what node:http would give them. */
function request(body: string | Buffer | Buffer[], headers: Record<string, string> = {}): IncomingMessage {
  const chunks = Array.isArray(body) ? body : [Buffer.from(body)];
  let i = 0;
  const req = new Readable({
    read() {
      this.push(i < chunks.length ? chunks[i++] : null);
    },
  });
  return Object.assign(req, {
    method: 'POST',
    url: '/',
    complete: false,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
  }) as unknown as IncomingMessage;
}

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: Record<string, unknown>;
}

function response(): { res: ServerResponse; answer: () => Answer } {
  let status = 0;
  let text = '';
  const headers: Record<string, unknown> = {};
  const res = {
    headersSent: false,
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = value;
    },
    writeHead(code: number, h: Record<string, unknown>) {
      status = code;
      for (const [k, v] of Object.entries(h)) headers[k.toLowerCase()] = v;
      this.headersSent = true;
      return this;
    },
    end(chunk?: string) {
      text += chunk ?? '';
    },
  };
  return {
    res: res as unknown as ServerResponse,
    answer: () => ({ status, headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }),
  };
}

function setup(opts: Partial<AlertRoutesOptions> = {}) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ name: 'test', level: 'debug', destination });
  const sink = new MemoryAlarmSink(['web', 'api', 'billing']);
  const registry = new Registry();
  const metrics = new AlarmMetrics(registry);
  const routes = alertRoutes({ sink, token: TOKEN, logger, metrics, maxBodyBytes: 4096, now: () => 5000, ...opts });
  const route = (path: string) => routes.find((r) => r.path === path)!.handler;
  const call = async (path: string, req: IncomingMessage): Promise<Answer> => {
    const { res, answer } = response();
    await route(path)(req, res);
    return answer();
  };
  return { sink, registry, lines, call, routes };
}

const am = (alerts: Array<Record<string, unknown>>, over: Record<string, unknown> = {}) => JSON.stringify(alertmanagerPayload(alerts, over));

describe('alert webhook routes', () => {
  it('are two POST routes for the controller HttpServer', () => {
    expect(setup().routes.map((r) => `${r.method} ${r.path}`)).toEqual([`POST ${ALERTMANAGER_PATH}`, `POST ${GENERIC_ALERT_PATH}`]);
  });

  it('answer 503 while no token is configured, and change nothing', async () => {
    const { sink, call } = setup({ token: undefined });
    const a = await call(GENERIC_ALERT_PATH, request('{"app":"web","reason":"x"}'));
    expect(a.status).toBe(503);
    expect(a.body.error).toMatch(/alert webhooks are disabled: set alerts.token/);
    expect(sink.lookups).toEqual([]);
  });

  it('refuse a missing or wrong token with 401 before reading the body', async () => {
    const { sink, call, lines } = setup();
    const missing = request('{"app":"web","reason":"x"}', { authorization: '' });
    const a = await call(GENERIC_ALERT_PATH, missing);
    expect(a.status).toBe(401);
    expect(a.headers['www-authenticate']).toBe('Bearer realm="flotilla"');
    expect(a.body).toMatchObject({ code: 'FLOTILLA_ERR_UNAUTHENTICATED' });

    const wrong = await call(ALERTMANAGER_PATH, request(am([alertmanagerAlert({ app: 'web' })]), { authorization: 'Bearer nope-nope-nope-nope' }));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('the bearer token is not valid for this controller');
    const basic = await call(ALERTMANAGER_PATH, request('{}', { authorization: `Basic ${TOKEN}` }));
    expect(basic.status).toBe(401);
    expect(sink.lookups).toEqual([]);
    expect(lines.join('')).not.toContain('nope-nope');

    const lower = await call(GENERIC_ALERT_PATH, request('{"app":"web","reason":"x"}', { authorization: `bearer ${TOKEN}` }));
    expect(lower.status).toBe(202);
  });

  it('want JSON by Content-Type (415 otherwise)', async () => {
    const { call } = setup();
    expect((await call(GENERIC_ALERT_PATH, request('{}', { 'content-type': 'text/plain' }))).status).toBe(415);
    expect((await call(GENERIC_ALERT_PATH, request('{}', { 'content-type': 'application/json; charset=latin1' }))).status).toBe(415);
    const noType = request('{}');
    delete noType.headers['content-type'];
    expect((await call(GENERIC_ALERT_PATH, noType)).status).toBe(415);
    const ok = await call(GENERIC_ALERT_PATH, request('{"app":"web","reason":"x"}', { 'content-type': 'Application/JSON; charset="UTF-8"' }));
    expect(ok.status).toBe(202);
  });

  it('refuse a body over the limit with 413: a declared one unread, a streamed one as it passes the limit', async () => {
    const { sink, call } = setup();
    const declared = request('{}', { 'content-length': '5000' });
    const a = await call(GENERIC_ALERT_PATH, declared);
    expect(a.status).toBe(413);
    expect(a.body.error).toBe('the body is 5000 bytes; the limit is 4096 (alerts.maxBodyBytes)');

    const chunks = Array.from({ length: 100 }, () => Buffer.alloc(1000, 0x20));
    const streamed = request(chunks);
    const b = await call(GENERIC_ALERT_PATH, streamed);
    expect(b.status).toBe(413);
    expect(b.body.error).toBe('the body is over the limit of 4096 bytes (alerts.maxBodyBytes)');
    expect(sink.lookups).toEqual([]);
  });

  it('name the fault of malformed JSON (400)', async () => {
    const { sink, call } = setup();
    const a = await call(ALERTMANAGER_PATH, request('{"version": "4", "alerts": [}'));
    expect(a.status).toBe(400);
    expect(a.body.error).toMatch(/^the body is not valid JSON: Unexpected token '}'/);
    expect((await call(GENERIC_ALERT_PATH, request(''))).body.error).toBe('the body is empty: expected a JSON object');
    expect((await call(GENERIC_ALERT_PATH, request(Buffer.from([0x7b, 0xff, 0x7d])))).body.error).toBe('the body is not valid UTF-8');
    expect(sink.lookups).toEqual([]);
  });

  it('name the field of a wrong type (400), before asking about apps', async () => {
    const { sink, call } = setup();
    const raw = alertmanagerPayload([alertmanagerAlert({ app: 'web' }), alertmanagerAlert({ app: 'api' })]);
    (raw.alerts as Array<Record<string, unknown>>)[1]!.labels = { app: 'api', replica: 2 };
    const a = await call(ALERTMANAGER_PATH, request(JSON.stringify(raw)));
    expect(a.status).toBe(400);
    expect(a.body.error).toBe('Alertmanager payload is invalid: alerts[1].labels.replica: Invalid input: expected string, received number');
    expect(a.body.issues).toEqual([{ field: 'alerts[1].labels.replica', problem: 'Invalid input: expected string, received number' }]);
    const g = await call(GENERIC_ALERT_PATH, request('{"app":"web","reason":42}'));
    expect(g.body.error).toBe('alert is invalid: reason: Invalid input: expected string, received number');
    expect(sink.lookups).toEqual([]);
    expect(sink.raised).toEqual([]);
  });

  it('raise one alarm per firing app of a multi-app payload, record resolved ones, list unknown ones', async () => {
    const { sink, call, registry } = setup();
    const a = await call(
      ALERTMANAGER_PATH,
      request(
        am([
          alertmanagerAlert({ app: 'web', instance: 'web-1' }),
          alertmanagerAlert({ app: 'web', instance: 'web-2' }),
          alertmanagerAlert({ app: 'api', alertname: 'LatencyHigh' }),
          alertmanagerAlert({ app: 'billing', status: 'resolved' }),
          alertmanagerAlert({ app: 'ghost' }),
          alertmanagerAlert({ alertname: 'DiskFull' }),
        ]),
      ),
    );
    expect(a.status).toBe(202);
    expect(a.body).toEqual({
      source: 'alertmanager',
      apps: [
        { app: 'web', firing: 2, resolved: 0, action: 'reverted', rolloutId: 'r-web', toVersion: '1.0.0' },
        { app: 'api', firing: 1, resolved: 0, action: 'reverted', rolloutId: 'r-api', toVersion: '1.0.0' },
        { app: 'billing', firing: 0, resolved: 1, action: 'resolved-recorded' },
      ],
      unknownApps: ['ghost'],
      ignored: { withoutAppLabel: 1, invalidApps: [] },
      notes: ['1 alert without the "app" label ignored', 'apps not known to this controller ignored: ghost'],
    });
    expect(sink.raised.map((x) => [x.app, x.source, x.receivedAtMs])).toEqual([
      ['web', 'alertmanager', 5000],
      ['api', 'alertmanager', 5000],
    ]);
    const text = await registry.metrics();
    expect(text).toContain('flotilla_alertmanager_alerts_total{status="firing",result="acted"} 3');
    expect(text).toContain('flotilla_alertmanager_alerts_total{status="resolved",result="recorded"} 1');
    expect(text).toContain('flotilla_alertmanager_alerts_total{status="firing",result="unknown-app"} 1');
    expect(text).toContain('flotilla_alertmanager_alerts_total{status="firing",result="no-app-label"} 1');
    expect(text).toContain('flotilla_alarms_raised_total{source="alertmanager",outcome="reverted"} 2');
    expect(text).toContain('flotilla_alert_webhook_requests_total{route="alertmanager",code="202"} 1');
  });

  it('answer 404 when no app of the payload is known, and change nothing', async () => {
    const { sink, call } = setup();
    const a = await call(ALERTMANAGER_PATH, request(am([alertmanagerAlert({ app: 'ghost' }), alertmanagerAlert({ app: 'phantom', status: 'resolved' })])));
    expect(a.status).toBe(404);
    expect(a.body).toMatchObject({ error: 'no app in this payload is known to the controller: ghost, phantom', unknownApps: ['ghost', 'phantom'] });
    expect(sink.raised).toEqual([]);

    const g = await call(GENERIC_ALERT_PATH, request('{"app":"ghost","reason":"x"}'));
    expect(g.status).toBe(404);
    expect(g.body.error).toBe('app "ghost" is not known to this controller');
    expect(sink.raised).toEqual([]);
  });

  it('accept a payload without app labels with a note, doing nothing', async () => {
    const { sink, call } = setup();
    const a = await call(ALERTMANAGER_PATH, request(am([alertmanagerAlert({ alertname: 'Watchdog' })])));
    expect(a.status).toBe(202);
    expect(a.body.apps).toEqual([]);
    expect(a.body.notes).toEqual(['1 alert without the "app" label ignored', 'no alert names an app with the "app" label: nothing to do']);
    expect(sink.lookups).toEqual([]);
  });

  it('answer 503 when the sink fails, so that Alertmanager retries', async () => {
    const { sink, call } = setup();
    sink.failing = true;
    const a = await call(ALERTMANAGER_PATH, request(am([alertmanagerAlert({ app: 'web' })])));
    expect(a.status).toBe(503);
    expect(a.body.error).toBe('cannot tell whether app "web" exists: store unreachable');

    const failingRaise = new MemoryAlarmSink(['web']);
    failingRaise.raise = () => Promise.reject(new Error('KV write timed out'));
    const { call: call2 } = setup({ sink: failingRaise });
    const b = await call2(GENERIC_ALERT_PATH, request('{"app":"web","reason":"x"}'));
    expect(b.status).toBe(503);
    expect(b.body).toMatchObject({
      apps: [{ app: 'web', action: 'error', message: 'KV write timed out' }],
      error: 'the alarm for web could not be handed over; send it again (it is idempotent)',
    });
  });

  it('log summaries, never the token or the payload', async () => {
    const { call, lines } = setup();
    await call(ALERTMANAGER_PATH, request(am([alertmanagerAlert({ app: 'web', annotations: { secret_note: 'do-not-log-me' } })])));
    await call(GENERIC_ALERT_PATH, request('{"app":"web","reason":"x","oops":"do-not-log-me-either"}'));
    const log = lines.join('');
    expect(log).toContain('alertmanager notification handled');
    expect(log).not.toContain(TOKEN);
    expect(log).not.toContain('do-not-log-me');
  });
});
