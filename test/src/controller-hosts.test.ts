import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostInfo__Output, ListHostsResponse__Output } from '@flotilla/proto';
import {
  ControllerProcess,
  FakeHost,
  controllerTestDir,
  httpGetText,
  unaryCall,
  waitUntil,
  type ControllerClients,
} from './controller-process.js';
import { encodeMessage } from '@flotilla/shared';
import { heartbeatMessage } from './host-messages.js';
import { ControllerFixture } from './controller-fixture.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

let fixture: ControllerFixture;
let nats: NatsServer;
let controller: ControllerProcess;
let clients: ControllerClients;
let observer: NatsConnection;
const hosts: FakeHost[] = [];
const BEAT_MS = 500;

beforeAll(async () => {
  const dir = await controllerTestDir('controller-hosts');
  // Down after 8 missed beats of 500 ms: a loaded machine can stall this process's timers for a
  // second or two, which must not read as a host gone quiet.
  const config = join(dir, 'controller.yaml');
  await writeFile(config, 'hosts: { downAfterMissed: 8 }\n');
  fixture = await ControllerFixture.start({ dir, args: ['--config', config] });
  ({ nats, controller, clients } = fixture);
  observer = await connect({ servers: nats.url, name: 'test-observer' });
});

afterAll(async () => {
  for (const h of hosts) await h.close().catch(() => undefined);
  await observer?.close().catch(() => undefined);
  await fixture?.stop();
  // The NATS-down test starts a server of its own in the fixture's place.
  if (nats !== fixture?.nats) await nats?.stop();
  await rm(fixture?.dir ?? '', { recursive: true, force: true });
});

async function fakeHost(id: string, labels: Record<string, string>): Promise<FakeHost> {
  const h = await FakeHost.connect(nats.url, id, { labels, heartbeatIntervalMs: BEAT_MS });
  hosts.push(h);
  return h;
}

const listHosts = async (selector = '') =>
  (await unaryCall<{ selector: string }, ListHostsResponse__Output>(clients.control, 'ListHosts', { selector })).hosts;

const hostById = async (id: string): Promise<HostInfo__Output | undefined> => (await listHosts()).find((h) => h.host_id === id);

async function metric(name: string): Promise<number | undefined> {
  const { body } = await httpGetText(controller.http, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
}

describe('host tracking', () => {
  let web1: FakeHost;
  let web2: FakeHost;
  let quiet: FakeHost;

  beforeAll(async () => {
    web1 = await fakeHost('web-1', { env: 'prod', zone: 'a' });
    web2 = await fakeHost('web-2', { env: 'staging', zone: 'b' });
    quiet = await fakeHost('beats-only', { env: 'prod' });
    web1.announce();
    web2.announce();
    web1.startHeartbeats();
    web2.startHeartbeats();
    // This one never announces: its heartbeats alone register it, labels included.
    quiet.startHeartbeats();
    await waitUntil('three hosts listed with live data', async () => {
      const list = await listHosts();
      return list.length === 3 && list.every((h) => h.load !== null) ? list : undefined;
    });
  });

  it('lists hosts with labels, inventory and live figures, filtered by selector', async () => {
    const all = await listHosts();
    expect(all.map((h) => h.host_id)).toEqual(['beats-only', 'web-1', 'web-2']);
    const w1 = all.find((h) => h.host_id === 'web-1');
    expect(w1).toMatchObject({ state: 'up', labels: { env: 'prod', zone: 'a' }, heartbeat_interval_ms: String(BEAT_MS) });
    expect(w1?.inventory).toMatchObject({ hostname: 'web-1', os: 'linux', cpus: 2 });
    expect(w1?.load?.cpu_percent).toBeCloseTo(3.5);
    expect(all.find((h) => h.host_id === 'beats-only')).toMatchObject({ labels: { env: 'prod' }, inventory: null });

    expect((await listHosts('env=prod')).map((h) => h.host_id)).toEqual(['beats-only', 'web-1']);
    expect((await listHosts('env!=prod')).map((h) => h.host_id)).toEqual(['web-2']);
    expect((await listHosts('zone,!missing')).map((h) => h.host_id)).toEqual(['web-1', 'web-2']);
  });

  it('answers INVALID_ARGUMENT for a bad selector', async () => {
    const err = (await listHosts('=prod').catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/selector "=prod"/);
  });

  it('marks a host down after it misses heartbeats and up when it returns, persisting both', async () => {
    const kv = await new Kvm(observer).open('flotilla_hosts');
    const storedState = async (id: string) => (await kv.get(id))?.json<{ state: string }>().state;

    web2.stopHeartbeats();
    await waitUntil('web-2 marked down', async () => (await hostById('web-2'))?.state === 'down');
    // The live view changes first; the record in KV follows with its write.
    await waitUntil('web-2 stored down', async () => (await storedState('web-2')) === 'down');
    // The hosts still beating stay up.
    expect((await hostById('web-1'))?.state).toBe('up');
    expect(await metric('flotilla_hosts{state="down"}')).toBe(1);
    expect(await metric('flotilla_hosts{state="up"}')).toBe(2);

    web2.startHeartbeats();
    await waitUntil('web-2 up again', async () => (await hostById('web-2'))?.state === 'up');
    await waitUntil('web-2 stored up', async () => (await storedState('web-2')) === 'up');
    expect(await metric('flotilla_host_state_changes_total{state="down"}')).toBe(1);
    expect(await metric('flotilla_host_state_changes_total{state="up"}')).toBe(1);
  });

  it('ignores and counts malformed heartbeats and ones naming another host', async () => {
    const before = (await metric('flotilla_malformed_messages_total{kind="heartbeat"}')) ?? 0;
    observer.publish('flotilla.v1.heartbeat.web-1', new TextEncoder().encode('{not json'));
    observer.publish('flotilla.v1.heartbeat.web-1', new TextEncoder().encode(JSON.stringify({ type: 'heartbeat', hostId: 'web-1' })));
    // A well-formed heartbeat on another host's subject must not register or move "impostor".
    const impostor = await fakeHost('impostor', { env: 'prod' });
    impostor.nc.publish(
      'flotilla.v1.heartbeat.web-1',
      encodeMessage(heartbeatMessage({ hostId: 'impostor', bootId: 'b', heartbeatIntervalMs: 200 }, { n: 1 })),
    );
    await waitUntil('three malformed heartbeats counted', async () =>
      ((await metric('flotilla_malformed_messages_total{kind="heartbeat"}')) ?? 0) - before >= 3 ? true : undefined,
    );
    expect(await hostById('impostor')).toBeUndefined();
  });
});

describe('HTTP', () => {
  it('serves /healthz, /metrics and a JSON 404', async () => {
    const health = await httpGetText(controller.http, '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', nats: 'connected', state: 'running' });

    const metrics = await httpGetText(controller.http, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.contentType).toMatch(/text\/plain/);
    expect(metrics.body).toMatch(/^flotilla_heartbeats_received_total \d+/m);
    expect(metrics.body).toMatch(/flotilla_artifact_uploads_total/);
    expect(metrics.body).toMatch(/flotilla_assignments_written_total/);

    const missing = await httpGetText(controller.http, '/nothing-here');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: 'not found', path: '/nothing-here' });
  });

  it('reports 503 while NATS is down and recovers when it is back', async () => {
    const { port, dir: natsDir } = nats;
    await nats.kill();
    await waitUntil('healthz 503', async () => {
      const r = await httpGetText(controller.http, '/healthz');
      return r.status === 503 ? JSON.parse(r.body) : undefined;
    }).then((body: { nats: string }) => expect(body.nats).toBe('disconnected'));
    nats = await startNatsServer({ dir: natsDir, port });
    await waitUntil('healthz 200 again', async () => (await httpGetText(controller.http, '/healthz')).status === 200, {
      timeoutMs: 20_000,
    });
    // The silence was the controller's, not the hosts': none of them was marked down for it.
    expect(await metric('flotilla_host_state_changes_total{state="down"}')).toBe(1);
    expect((await listHosts()).map((h) => h.state)).toEqual(['up', 'up', 'up']);
  });
});
