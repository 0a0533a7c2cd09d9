import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostInfo__Output, ListHostsResponse__Output } from '@flotilla/proto';
import { encodeHeartbeatTick, tickOfferOf, type HeartbeatTick } from '@flotilla/shared';
import { ControllerFixture } from './controller-fixture.js';
import { FakeHost, controllerTestDir, httpGetText, unaryCall, waitUntil } from './controller-process.js';

// Heartbeat ticks (shared/src/heartbeat-tick.ts) against a real controller: taken between full
// heartbeats, beside a host whose agent predates them and sends JSON only, and refused, counted,
// when hostile.

let fixture: ControllerFixture;
let observer: NatsConnection;
const hosts: FakeHost[] = [];
const BEAT_MS = 500;

beforeAll(async () => {
  const dir = await controllerTestDir('controller-heartbeat-ticks');
  // Down after 8 missed beats: a loaded machine can stall a process for a second or two.
  const config = join(dir, 'controller.yaml');
  await writeFile(config, 'hosts: { downAfterMissed: 8 }\n');
  fixture = await ControllerFixture.start({ dir, args: ['--config', config] });
  observer = await connect({ servers: fixture.nats.url, name: 'test-observer' });
});

afterAll(async () => {
  for (const h of hosts) await h.close().catch(() => undefined);
  await observer?.close().catch(() => undefined);
  await fixture?.stop();
  await rm(fixture?.dir ?? '', { recursive: true, force: true });
});

async function fakeHost(id: string): Promise<FakeHost> {
  const h = await FakeHost.connect(fixture.nats.url, id, { labels: { env: 'prod' }, heartbeatIntervalMs: BEAT_MS });
  hosts.push(h);
  return h;
}

async function metric(name: string): Promise<number> {
  const { body } = await httpGetText(fixture.controller.http, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const hostById = async (id: string): Promise<HostInfo__Output | undefined> =>
  (await unaryCall<{ selector: string }, ListHostsResponse__Output>(fixture.clients.control, 'ListHosts', { selector: '' })).hosts.find(
    (h) => h.host_id === id,
  );

function tick(host: FakeHost, n: number, basisN: number, memUsedBytes: number): Uint8Array {
  const t: HeartbeatTick = { bootId: host.bootId, n, basisN, sentAtMs: Date.now(), load: { cpuPercent: 7, memUsedBytes, memTotalBytes: 4e9, diskFreeBytes: 1e10 } };
  return encodeHeartbeatTick(t);
}

/** Waits until the controller's view of the host shows `memUsedBytes` (the marker of one message). */
async function showsLoad(host: FakeHost, memUsedBytes: number): Promise<HostInfo__Output> {
  return waitUntil(`${host.hostId} to show load ${memUsedBytes}`, async () => {
    const h = await hostById(host.hostId);
    return Number(h?.load?.mem_used_bytes) === memUsedBytes ? h : undefined;
  });
}

describe('heartbeat ticks', () => {
  let ticker: FakeHost;

  beforeAll(async () => {
    ticker = await fakeHost('ticker');
    ticker.announce();
  });

  it('are offered in sync replies and taken between full heartbeats, beside an agent that sends JSON only', async () => {
    const jsonOnly = await fakeHost('json-only');
    jsonOnly.announce();
    jsonOnly.startHeartbeats();

    expect(tickOfferOf(await ticker.sync())).toEqual({ fullEvery: 10 });
    ticker.heartbeat(); // full heartbeat 1: the basis
    await waitUntil('ticker listed with live data', async () => ((await hostById('ticker'))?.load ? true : undefined));
    const withoutBasis = await metric('flotilla_heartbeat_ticks_without_basis_total');
    for (let n = 2; n <= 6; n++) ticker.nc.publish(ticker.subjects.heartbeat('ticker'), tick(ticker, n, 1, 1000 + n));
    const seen = await showsLoad(ticker, 1006);
    expect(seen.state).toBe('up');
    expect(await metric('flotilla_heartbeat_ticks_without_basis_total')).toBe(withoutBasis);

    // The host of the previous version is heard as before.
    const old = await waitUntil('json-only heard', async () => {
      const h = await hostById('json-only');
      return h?.state === 'up' && h.load ? h : undefined;
    });
    expect(old.load?.cpu_percent).toBeCloseTo(3.5);
    jsonOnly.stopHeartbeats();
  });

  it('refuses and counts malformed ticks, changing nothing', async () => {
    ticker.heartbeat(); // full heartbeat 2
    ticker.nc.publish(ticker.subjects.heartbeat('ticker'), tick(ticker, 10, 2, 2010));
    await showsLoad(ticker, 2010);
    const before = await metric('flotilla_malformed_messages_total{kind="heartbeat"}');
    const good = tick(ticker, 11, 2, 6666);
    const at = 2 + ticker.bootId.length;
    const withNumber = (field: number, value: number) => {
      const bytes = Uint8Array.from(good);
      new DataView(bytes.buffer).setFloat64(at + field * 8, value, true);
      return bytes;
    };
    const hostile = [
      good.subarray(0, 40), // cut short
      Uint8Array.from([...good, 0]), // trailing byte
      Uint8Array.from(good, (b, i) => (i === 1 ? 65 : b)), // boot id length out of bounds
      Uint8Array.from(good, (b, i) => (i === 3 ? 0x0a : b)), // control byte in the boot id
      withNumber(0, 11.5), // fractional counter
      withNumber(1, 11), // basis not below n
      withNumber(2, -1), // negative send time
      withNumber(4, NaN), // NaN load
    ];
    for (const body of hostile) ticker.nc.publish(ticker.subjects.heartbeat('ticker'), body);
    // A tick on a subject that names no valid host id.
    observer.publish('flotilla.v1.heartbeat.Not_A_Host!', good);
    await waitUntil('every hostile tick counted', async () =>
      (await metric('flotilla_malformed_messages_total{kind="heartbeat"}')) - before >= hostile.length + 1 ? true : undefined,
    );
    // None of them moved the host: the next good tick is the next thing it shows.
    expect(Number((await hostById('ticker'))?.load?.mem_used_bytes)).toBe(2010);
    ticker.nc.publish(ticker.subjects.heartbeat('ticker'), tick(ticker, 12, 2, 2012));
    await showsLoad(ticker, 2012);
  });

  it('takes only liveness from a tick whose full heartbeat it never got, and registers no host from a tick', async () => {
    const withoutBasis = await metric('flotilla_heartbeat_ticks_without_basis_total');
    // Full heartbeat 13 was lost on the way: a tick naming it keeps the host alive, no more.
    ticker.nc.publish(ticker.subjects.heartbeat('ticker'), tick(ticker, 14, 13, 3014));
    // A host the controller never heard of cannot be registered from a tick (it says no labels).
    const stranger = await fakeHost('stranger');
    stranger.nc.publish(stranger.subjects.heartbeat('stranger'), tick(stranger, 2, 1, 1));
    await waitUntil('two ticks without basis counted', async () =>
      (await metric('flotilla_heartbeat_ticks_without_basis_total')) - withoutBasis >= 2 ? true : undefined,
    );
    expect((await hostById('ticker'))?.state).toBe('up');
    expect(await hostById('stranger')).toBeUndefined();
  });

  it("drops a flood of ticks over the host's rate, counted, before decoding them", async () => {
    const dropped = () => metric('flotilla_host_messages_dropped_total{kind="heartbeat"}');
    const before = await dropped();
    const FLOOD = 2_000;
    for (let i = 0; i < FLOOD; i++) ticker.nc.publish(ticker.subjects.heartbeat('ticker'), tick(ticker, 100 + i, 13, 9000));
    await ticker.nc.flush();
    // The host's burst (50) and 20 a second get through; the rest are dropped.
    await waitUntil('the flood to be dropped', async () => ((await dropped()) - before >= FLOOD - 500 ? true : undefined), { timeoutMs: 30_000 });
  });
});
