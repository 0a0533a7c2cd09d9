// The alert webhooks over real HTTP: the controller's HttpServer on loopback with the alarm
// routes mounted and an in-memory sink standing in for the rollout manager. Payloads have the
// exact shape Alertmanager's webhook notifier sends.
import { Agent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/shared';
import { HttpServer } from '../../controller/src/http.js';
import { ALERTMANAGER_PATH, GENERIC_ALERT_PATH, alertRoutes } from '../../controller/src/alarms/index.js';
import { MemoryAlarmSink, RECORDED_NOTIFICATIONS, alertmanagerAlert, alertmanagerPayload } from '../../controller/src/alarms/testing.js';

const TOKEN = 'webhook-token-0123456789abcdef';
const MiB = 1024 * 1024;
const logger = createLogger({ name: 'alarms-webhooks-test', level: 'silent' });

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

let server: HttpServer;
let port: number;
let sink: MemoryAlarmSink;
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

/** Sends a body in pieces (several writes, as a streaming client would) and reads the answer. */
function post(path: string, body: string | Buffer | Buffer[], headers: OutgoingHttpHeaders = {}): Promise<Reply> {
  const pieces = Array.isArray(body) ? body : [Buffer.from(body)];
  return new Promise<Reply>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        });
      },
    );
    req.on('error', reject);
    for (const piece of pieces) req.write(piece);
    req.end();
  });
}

const json = (value: unknown) => JSON.stringify(value);

beforeAll(async () => {
  server = new HttpServer(logger);
  // The sink is replaced per test; the routes reach it through this indirection.
  const routes = alertRoutes({
    sink: { knowsApp: (app) => sink.knowsApp(app), raise: (alarm) => sink.raise(alarm) },
    token: TOKEN,
    appLabel: 'app',
    maxBodyBytes: MiB,
    logger,
  });
  for (const r of routes) server.route(r.method, r.path, r.handler);
  port = await server.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  agent.destroy();
  await server.close(1000);
});

beforeEach(() => {
  sink = new MemoryAlarmSink(['web', 'api', 'billing']);
});

describe('alert webhooks over HTTP', () => {
  it('refuse a missing or wrong bearer token with 401', async () => {
    const payload = json(alertmanagerPayload([alertmanagerAlert({ app: 'web' })]));
    const missing = await post(ALERTMANAGER_PATH, payload, { authorization: '' });
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="flotilla"');
    const wrong = await post(ALERTMANAGER_PATH, payload, { authorization: 'Bearer not-the-token-at-all' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: 'FLOTILLA_ERR_UNAUTHENTICATED', error: 'the bearer token is not valid for this controller' });
    const generic = await post(GENERIC_ALERT_PATH, json({ app: 'web', reason: 'x' }), { authorization: `Bearer ${TOKEN}x` });
    expect(generic.status).toBe(401);
    expect(sink.lookups).toEqual([]);
    expect(sink.raised).toEqual([]);
  });

  it('refuse malformed JSON with 400 naming the fault', async () => {
    const r = await post(ALERTMANAGER_PATH, '{"version":"4","alerts":[{"status":"firing",}]}');
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/^the body is not valid JSON: /);
    expect(sink.lookups).toEqual([]);
  });

  it('refuse wrong types with 400 naming the field', async () => {
    const raw = alertmanagerPayload([alertmanagerAlert({ app: 'web' })]);
    (raw.alerts as Array<Record<string, unknown>>)[0]!.endsAt = 0;
    const r = await post(ALERTMANAGER_PATH, json(raw));
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('Alertmanager payload is invalid: alerts[0].endsAt: Invalid input: expected string, received number');

    const g = await post(GENERIC_ALERT_PATH, json({ app: 'web', reason: 'x', severity: ['critical'] }));
    expect(g.status).toBe(400);
    expect(g.body.error).toBe('alert is invalid: severity: Invalid input: expected string, received array');
    expect(sink.raised).toEqual([]);
  });

  it('refuse an oversize body with 413, declared or streamed, and keep serving the connection pool', async () => {
    const big = Buffer.alloc(2 * MiB, 0x20);
    const declared = await post(GENERIC_ALERT_PATH, big, { 'content-length': big.length });
    expect(declared.status).toBe(413);
    expect(declared.body.error).toBe(`the body is ${2 * MiB} bytes; the limit is ${MiB} (alerts.maxBodyBytes)`);

    // Chunked transfer: no length up front, refused as the limit passes.
    const pieces = Array.from({ length: 24 }, () => Buffer.alloc(64 * 1024, 0x20));
    const streamed = await post(GENERIC_ALERT_PATH, pieces, { 'transfer-encoding': 'chunked' });
    expect(streamed.status).toBe(413);
    expect(streamed.body.error).toBe(`the body is over the limit of ${MiB} bytes (alerts.maxBodyBytes)`);

    const after = await post(GENERIC_ALERT_PATH, json({ app: 'web', reason: 'after the big ones' }));
    expect(after.status).toBe(202);
    expect(sink.raised.map((a) => a.reason)).toEqual(['after the big ones']);
  });

  it('answer 404 for an unknown app', async () => {
    const g = await post(GENERIC_ALERT_PATH, json({ app: 'ghost', reason: 'x' }));
    expect(g.status).toBe(404);
    expect(g.body).toMatchObject({ error: 'app "ghost" is not known to this controller', unknownApps: ['ghost'] });
    const am = await post(ALERTMANAGER_PATH, json(alertmanagerPayload([alertmanagerAlert({ app: 'ghost' })])));
    expect(am.status).toBe(404);
    expect(sink.raised).toEqual([]);
  });

  it("take Alertmanager's own notifications unchanged: firing, then partly resolved", async () => {
    const headers = { 'user-agent': 'Alertmanager/0.25.0', 'content-length': Buffer.byteLength(RECORDED_NOTIFICATIONS.firing) };
    const first = await post(ALERTMANAGER_PATH, RECORDED_NOTIFICATIONS.firing, headers);
    expect(first.status).toBe(202);
    expect(first.body.apps).toEqual([
      { app: 'api', firing: 1, resolved: 0, action: 'reverted', rolloutId: 'r-api', toVersion: '1.0.0' },
      { app: 'web', firing: 2, resolved: 0, action: 'reverted', rolloutId: 'r-web', toVersion: '1.0.0' },
    ]);
    const second = await post(ALERTMANAGER_PATH, RECORDED_NOTIFICATIONS.partlyResolved);
    expect(second.status).toBe(202);
    expect(second.body.apps).toEqual([
      { app: 'api', firing: 0, resolved: 1, action: 'resolved-recorded' },
      { app: 'web', firing: 2, resolved: 0, action: 'already-reverting', rolloutId: 'r-web', toVersion: '1.0.0' },
    ]);
    expect(sink.raised.map((a) => a.app)).toEqual(['api', 'web', 'web']);
  });

  it('act once per app on a grouped multi-app payload with extra labels, annotations and fields', async () => {
    const payload = alertmanagerPayload(
      [
        alertmanagerAlert({ app: 'web', instance: 'web-1:9100', labels: { zone: 'eu-1', team: 'storefront' } }),
        alertmanagerAlert({ app: 'web', instance: 'web-2:9100', labels: { zone: 'eu-2', team: 'storefront' } }),
        alertmanagerAlert({ app: 'api', alertname: 'LatencyHigh', annotations: { dashboard: 'https://grafana/d/api' } }),
        alertmanagerAlert({ app: 'ghost' }),
      ],
      { notification_reason: 'new_alerts' },
    );
    const r = await post(ALERTMANAGER_PATH, json(payload));
    expect(r.status).toBe(202);
    expect(r.body.apps).toEqual([
      { app: 'web', firing: 2, resolved: 0, action: 'reverted', rolloutId: 'r-web', toVersion: '1.0.0' },
      { app: 'api', firing: 1, resolved: 0, action: 'reverted', rolloutId: 'r-api', toVersion: '1.0.0' },
    ]);
    expect(r.body.unknownApps).toEqual(['ghost']);
    expect(sink.raised.map((a) => `${a.app}:${a.source}`)).toEqual(['web:alertmanager', 'api:alertmanager']);
    expect(sink.raised[0]?.summary).toMatchObject({ firing: 2, alertnames: ['HighErrorRate'] });
  });

  it('only record resolved alerts', async () => {
    const r = await post(
      ALERTMANAGER_PATH,
      json(alertmanagerPayload([alertmanagerAlert({ app: 'web', status: 'resolved' }), alertmanagerAlert({ app: 'api', status: 'resolved' })])),
    );
    expect(r.status).toBe(202);
    expect(r.body.apps).toEqual([
      { app: 'web', firing: 0, resolved: 1, action: 'resolved-recorded' },
      { app: 'api', firing: 0, resolved: 1, action: 'resolved-recorded' },
    ]);
    expect(sink.raised).toEqual([]);
  });

  it('pass 20 concurrent identical alerts to the sink one each, adding no duplicates', async () => {
    sink.delayTurns = 5;
    const payload = json(alertmanagerPayload([alertmanagerAlert({ app: 'web', fingerprint: 'a1b2c3d4e5f60718' })]));
    const replies = await Promise.all(Array.from({ length: 20 }, () => post(ALERTMANAGER_PATH, payload)));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(202));
    expect(sink.raised).toHaveLength(20);
    expect(new Set(sink.raised.map((a) => a.app))).toEqual(new Set(['web']));
    const actions = replies.map((r) => (r.body.apps as Array<{ action: string }>)[0]?.action);
    expect(actions.filter((a) => a === 'reverted')).toHaveLength(1);
    expect(actions.filter((a) => a === 'already-reverting')).toHaveLength(19);
  });
});
