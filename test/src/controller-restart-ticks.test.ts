import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostInfo__Output } from '@flotilla/proto';
import { encodeHeartbeatTick, isHeartbeatTick, subjects } from '@flotilla/shared';
import { httpGetText } from './controller-process.js';
import { delay, waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';

// A controller restarted under agents whose NATS connection never dropped hears only heartbeat
// ticks naming full heartbeats it never got. It must not wait for each agent's periodic full
// heartbeat (every tenth beat) to know what the hosts accepted and run: it re-sends each host its
// assignment, and the agent answers with a full heartbeat.

const BEAT_MS = 1000;
/** Ticks a host may send after the controller leads before its picture is whole: the one that
 * asks for the full heartbeat, and one more in flight. Without the ask it would be up to nine. */
const TICKS_ALLOWED = 3;

let fleet: Fleet;
let observer: NatsConnection;
const wire = subjects('flotilla');

beforeAll(async () => {
  fleet = await Fleet.startDeployed({ agents: 2, heartbeatInterval: `${BEAT_MS}ms`, stable: '1.0.0' });
  observer = await connect({ servers: fleet.nats.url, name: 'test-observer' });
});

afterAll(async () => {
  await observer?.close().catch(() => undefined);
  await fleet?.stop();
});

/** What a user reads of a host's deployment in ListHosts. */
const picture = (h: HostInfo__Output | undefined) =>
  h === undefined
    ? undefined
    : { accepted: Number(h.accepted_seq), apps: h.apps.map((a) => [a.app, a.desired_version, a.active_version, a.process_state, a.health]) };

async function metric(name: string): Promise<number> {
  const { body } = await httpGetText(fleet.controller.http, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const leads = async (): Promise<boolean> => (await metric('flotilla_controller_leader')) === 1;

/** Counts each host's heartbeats on the wire, ticks and full ones, from when it is made. */
function heartbeatCounter(sub: Subscription) {
  const ticks = new Map<string, number>();
  const full = new Map<string, number>();
  let counting = false;
  void (async () => {
    for await (const m of sub) {
      const host = wire.hostIdOf(m.subject) ?? '';
      const into = isHeartbeatTick(m.data) ? ticks : full;
      if (counting || into === full) into.set(host, (into.get(host) ?? 0) + 1);
    }
  })();
  return {
    ticks,
    full,
    startCountingTicks: () => {
      ticks.clear();
      counting = true;
    },
  };
}

describe('a controller restarted under ticking agents', () => {
  it('shows each host its accepted seq and app statuses within a couple of beats of leading', async () => {
    const ids = fleet.agents.map((a) => a.hostId);
    const before = await waitUntil('every host running 1.0.0, healthy', async () => {
      const hosts = await fleet.hosts();
      const ok = ids.every((id) => {
        const p = picture(hosts.find((h) => h.host_id === id));
        return p !== undefined && p.accepted > 0 && p.apps.length === 1 && p.apps[0]?.[2] === '1.0.0' && p.apps[0]?.[4] === 'healthy';
      });
      return ok ? new Map(ids.map((id) => [id, picture(hosts.find((h) => h.host_id === id))])) : undefined;
    });

    const sub = observer.subscribe(wire.allHeartbeat);
    const assigns = observer.subscribe(wire.assign('*'));
    const resent = new Set<string>();
    void (async () => {
      for await (const m of assigns) resent.add(wire.hostIdOf(m.subject) ?? '');
    })();
    const counter = heartbeatCounter(sub);
    await observer.flush();
    // The agents tick between full heartbeats: what the restarted controller will hear first.
    await waitUntil('both agents sending ticks', async () => {
      counter.startCountingTicks();
      await delay(2 * BEAT_MS);
      return ids.every((id) => (counter.ticks.get(id) ?? 0) > 0) ? true : undefined;
    });
    // Just after host-1's full heartbeat: its next one is nine beats away, unless asked for.
    const fullBefore = counter.full.get(ids[0]!) ?? 0;
    await waitUntil("host-1's periodic full heartbeat", async () => ((counter.full.get(ids[0]!) ?? 0) > fullBefore ? true : undefined), {
      intervalMs: 20,
    });
    resent.clear();
    const fullAtStop = counter.full.get(ids[0]!) ?? 0;
    await fleet.controller.stop();
    await fleet.restartController();
    await waitUntil('the restarted controller to lead', async () => ((await leads()) ? true : undefined), { intervalMs: 50 });
    // On a slow machine the restart can outlast host-1's nine beats: its periodic full heartbeat
    // then came first, and nothing needs asking for.
    const fullWhileDown = (counter.full.get(ids[0]!) ?? 0) > fullAtStop;
    counter.startCountingTicks();

    const after = await waitUntil('every host shown as before the restart', async () => {
      const hosts = await fleet.hosts();
      const shown = new Map(ids.map((id) => [id, picture(hosts.find((h) => h.host_id === id))]));
      return ids.every((id) => JSON.stringify(shown.get(id)) === JSON.stringify(before.get(id))) ? shown : undefined;
    }, { intervalMs: 50 });
    expect(after).toEqual(before);
    for (const id of ids) expect(counter.ticks.get(id) ?? 0, `ticks from ${id} before its picture was whole`).toBeLessThanOrEqual(TICKS_ALLOWED);
    // How: host-1 was sent its assignment again (host-2's periodic full heartbeat may have come
    // first, and then it needs none).
    if (!fullWhileDown) expect([...resent]).toContain(ids[0]);
    sub.unsubscribe();
    assigns.unsubscribe();
  });

  it('re-sends at most once a second to a host flooding it with ticks whose basis it never got', async () => {
    const host = fleet.agents[0]!.hostId;
    const withoutBasis = () => metric('flotilla_heartbeat_ticks_without_basis_total');
    const assigns = observer.subscribe(wire.assign(host));
    let sent = 0;
    void (async () => {
      for await (const _ of assigns) sent++;
    })();
    await observer.flush();
    // The first test's re-sends are a second behind.
    await delay(1500);
    const counted = await withoutBasis();
    const startedMs = Date.now();
    // Ticks of a boot the controller never heard a full heartbeat from, each one asking anew.
    const FLOOD = 2_000;
    for (let n = 2; n < FLOOD + 2; n++) {
      const load = { cpuPercent: 1, memUsedBytes: 1, memTotalBytes: 1, diskFreeBytes: 1 };
      observer.publish(wire.heartbeat(host), encodeHeartbeatTick({ bootId: 'flood-boot', n, basisN: 1, sentAtMs: Date.now(), load }));
    }
    await observer.flush();
    // The host's burst gets through the message rate limit (the rest is dropped undecoded), and
    // every admitted tick lacks its basis.
    await waitUntil('the admitted ticks counted', async () => ((await withoutBasis()) - counted >= 40 ? true : undefined), { timeoutMs: 30_000 });
    await waitUntil('the host sent its assignment again', async () => (sent >= 1 ? true : undefined));
    const elapsedMs = Date.now() - startedMs;
    expect(sent).toBeLessThanOrEqual(Math.floor(elapsedMs / 1000) + 1);
    assigns.unsubscribe();
  });
});
