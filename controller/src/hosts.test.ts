import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, type Announce, type Heartbeat, type HeartbeatTick } from '@flotilla/shared';
import { HostRegistry, type HostEvent } from './hosts.js';
import { LivenessDeadlines } from './liveness.js';
import { memoryBucket } from './store/memory-kv.js';
import { recordSchemas, type HostRecord } from './store/records.js';

const logger = createLogger({ name: 'test', level: 'silent' });

function announce(hostId: string, labels: Record<string, string> = { env: 'prod' }): Announce {
  return {
    type: 'announce',
    hostId,
    labels,
    inventory: { hostname: hostId, os: 'linux', arch: 'x64', kernel: '6.1', cpus: 2, memTotalBytes: 1e9, agentVersion: '0.1.0' },
    heartbeatIntervalMs: 200,
    bootId: 'boot-1',
    sentAtMs: 0,
  };
}

function heartbeat(hostId: string, n: number, extra: Partial<Heartbeat> = {}): Heartbeat {
  return {
    type: 'heartbeat',
    hostId,
    n,
    bootId: 'boot-1',
    sentAtMs: n * 200,
    heartbeatIntervalMs: 200,
    acceptedSeq: 0,
    load: { cpuPercent: 1, memUsedBytes: 1, memTotalBytes: 2, diskFreeBytes: 3 },
    apps: [],
    labels: { env: 'prod' },
    ...extra,
  };
}

function tick(n: number, basisN: number, extra: Partial<HeartbeatTick> = {}): HeartbeatTick {
  return { bootId: 'boot-1', n, basisN, sentAtMs: n * 200, load: { cpuPercent: 50, memUsedBytes: n, memTotalBytes: 2, diskFreeBytes: 3 }, ...extra };
}

async function setup(records: HostRecord[] = []) {
  let now = 1_000_000;
  const { bucket, kv } = memoryBucket<HostRecord>('flotilla_hosts', recordSchemas.hosts as never);
  for (const r of records) await bucket.create(r.hostId, r);
  const writesBefore = kv.writes;
  const registry = await HostRegistry.load({ bucket, downAfterMissed: 3, logger, now: () => now });
  const events: HostEvent[] = [];
  registry.subscribe((e) => events.push(e));
  return {
    registry,
    bucket,
    events,
    writes: () => kv.writes - writesBefore,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

describe('HostRegistry', () => {
  it('registers a host on announce and writes its record', async () => {
    const t = await setup();
    await t.registry.handleAnnounce(announce('h1'));
    const stored = await t.bucket.get('h1');
    expect(stored?.value).toMatchObject({ hostId: 'h1', labels: { env: 'prod' }, state: 'up', heartbeatIntervalMs: 200 });
    expect(stored?.value.inventory?.hostname).toBe('h1');
    expect(t.registry.counts()).toEqual({ up: 1, down: 0 });
  });

  it('keeps heartbeats in memory and writes only up/down transitions', async () => {
    const t = await setup();
    await t.registry.handleAnnounce(announce('h1'));
    const afterAnnounce = t.writes();
    for (let n = 1; n <= 5; n++) {
      t.advance(200);
      expect(await t.registry.handleHeartbeat(heartbeat('h1', n, { acceptedSeq: n }))).toBe(true);
      await t.registry.sweep();
    }
    expect(t.writes()).toBe(afterAnnounce);
    expect(t.registry.get('h1')?.live?.acceptedSeq).toBe(5);
    expect(t.registry.get('h1')?.record.state).toBe('up');

    // A millisecond short of three intervals of silence: still up. Three: down, and that is written.
    t.advance(599);
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('up');
    t.advance(1);
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('down');
    expect((await t.bucket.get('h1'))?.value.state).toBe('down');
    expect(t.writes()).toBe(afterAnnounce + 1);
    await t.registry.sweep();
    expect(t.writes()).toBe(afterAnnounce + 1);

    // Its next heartbeat brings it back up.
    t.advance(5000);
    await t.registry.handleHeartbeat(heartbeat('h1', 6));
    expect(t.registry.get('h1')?.record.state).toBe('up');
    expect((await t.bucket.get('h1'))?.value).toMatchObject({ state: 'up', stateSinceMs: t.now() });
    expect(t.events.filter((e) => e.type === 'state').map((e) => (e.type === 'state' ? e.state : ''))).toEqual(['down', 'up']);
  });

  it('drops heartbeats older than the last one of the same boot', async () => {
    const t = await setup();
    await t.registry.handleHeartbeat(heartbeat('h1', 5, { acceptedSeq: 5 }));
    expect(await t.registry.handleHeartbeat(heartbeat('h1', 4, { acceptedSeq: 4 }))).toBe(false);
    expect(await t.registry.handleHeartbeat(heartbeat('h1', 5, { acceptedSeq: 4 }))).toBe(false);
    expect(t.registry.get('h1')?.live?.acceptedSeq).toBe(5);
    // A restarted agent counts from 1 again under a new boot id, whatever its clock says.
    expect(await t.registry.handleHeartbeat(heartbeat('h1', 1, { bootId: 'boot-2', sentAtMs: 1 }))).toBe(true);
    expect(t.registry.get('h1')?.live?.bootId).toBe('boot-2');
    // A late heartbeat of the previous agent process changes nothing.
    expect(await t.registry.handleHeartbeat(heartbeat('h1', 6, { acceptedSeq: 6 }))).toBe(false);
    expect(t.registry.get('h1')?.live?.bootId).toBe('boot-2');
  });

  it('registers a host that only ever sent heartbeats, with their labels', async () => {
    const t = await setup();
    await t.registry.handleHeartbeat(heartbeat('h9', 1, { labels: { env: 'staging', zone: 'b' } }));
    const stored = await t.bucket.get('h9');
    expect(stored?.value).toMatchObject({ hostId: 'h9', labels: { env: 'staging', zone: 'b' }, inventory: null, state: 'up' });
  });

  it('takes a heartbeat at once and writes what it calls for in the background', async () => {
    const t = await setup();
    expect(t.registry.takeHeartbeat(heartbeat('h1', 1, { labels: { env: 'prod', zone: 'a' } }))).toBe(true);
    // In memory at once.
    expect(t.registry.get('h1')?.record).toMatchObject({ state: 'up', labels: { env: 'prod', zone: 'a' } });
    expect(t.registry.takeHeartbeat(heartbeat('h1', 1))).toBe(false);
    await t.registry.stop();
    expect((await t.bucket.get('h1'))?.value).toMatchObject({ hostId: 'h1', labels: { env: 'prod', zone: 'a' }, state: 'up' });
  });

  it('writes a host again when its labels change, even to as many labels', async () => {
    const t = await setup();
    await t.registry.handleHeartbeat(heartbeat('h1', 1, { labels: { env: 'prod', zone: 'a' } }));
    const written = t.writes();
    await t.registry.handleHeartbeat(heartbeat('h1', 2, { labels: { zone: 'a', env: 'prod' } }));
    expect(t.writes()).toBe(written);
    await t.registry.handleHeartbeat(heartbeat('h1', 3, { labels: { env: 'prod', rack: 'a' } }));
    expect(t.writes()).toBe(written + 1);
    expect((await t.bucket.get('h1'))?.value.labels).toEqual({ env: 'prod', rack: 'a' });
    await t.registry.handleHeartbeat(heartbeat('h1', 4, { labels: { env: 'prod', rack: 'b' } }));
    expect((await t.bucket.get('h1'))?.value.labels).toEqual({ env: 'prod', rack: 'b' });
  });

  it('hands out views that later heartbeats do not change', async () => {
    const t = await setup();
    const web = (health: 'healthy' | 'unhealthy') => ({
      app: 'web',
      desiredVersion: '1.0.0',
      activeVersion: '1.0.0',
      processState: 'running' as const,
      pid: 10,
      restarts: 0,
      health,
      healthSinceMs: 5,
      installPhase: 'idle' as const,
      installVersion: null,
      error: null,
      updatedAtMs: 5,
    });
    await t.registry.handleHeartbeat(heartbeat('h1', 1, { apps: [web('healthy')] }));
    const first = t.registry.get('h1');
    t.advance(200);
    await t.registry.handleHeartbeat(
      heartbeat('h1', 2, { bootId: 'boot-2', acceptedSeq: 7, load: { cpuPercent: 50, memUsedBytes: 9, memTotalBytes: 10, diskFreeBytes: 1 }, apps: [web('unhealthy')] }),
    );
    expect(first?.live).toMatchObject({ bootId: 'boot-1', n: 1, acceptedSeq: 0, receivedAtMs: t.now() - 200, load: { cpuPercent: 1 } });
    expect(first?.live?.apps.map((a) => a.health)).toEqual(['healthy']);
    expect(t.registry.get('h1')?.live).toMatchObject({
      bootId: 'boot-2',
      n: 2,
      sentAtMs: 400,
      acceptedSeq: 7,
      receivedAtMs: t.now(),
      load: { cpuPercent: 50, memUsedBytes: 9, memTotalBytes: 10, diskFreeBytes: 1 },
    });
    expect(t.registry.get('h1')?.live?.apps.map((a) => a.health)).toEqual(['unhealthy']);
    // The heartbeat event carries that heartbeat and the host's record.
    const last = t.events.at(-1);
    expect(last?.type === 'heartbeat' && last.heartbeat.n).toBe(2);
    expect(last?.type === 'heartbeat' && last.record).toBe(t.registry.get('h1')?.record);
    // The earlier boot's heartbeats are stale from now on.
    expect(await t.registry.handleHeartbeat(heartbeat('h1', 3))).toBe(false);
  });

  it('keeps the newer app report when it only adds an optional field (the applied traffic weight)', async () => {
    const t = await setup();
    const web = { app: 'web', desiredVersion: '1.0.0', activeVersion: '1.0.0', processState: 'running' as const, pid: 10, restarts: 0,
      health: 'healthy' as const, healthSinceMs: 5, installPhase: 'idle' as const, installVersion: null, error: null, updatedAtMs: 5 };
    await t.registry.handleHeartbeat(heartbeat('h1', 1, { apps: [web] }));
    await t.registry.handleHeartbeat(heartbeat('h1', 2, { apps: [{ ...web, trafficWeight: 10 }] }));
    expect(t.registry.get('h1')?.live?.apps[0]?.trafficWeight).toBe(10);
  });

  it('lists the hosts a filter keeps, sorted by id', async () => {
    const t = await setup();
    for (const [id, zone] of [['h3', 'a'], ['h1', 'b'], ['h2', 'a'], ['h0', 'a']] as const) {
      await t.registry.handleHeartbeat(heartbeat(id, 1, { labels: { zone } }));
    }
    expect(t.registry.list((r) => r.labels.zone === 'a').map((h) => h.record.hostId)).toEqual(['h0', 'h2', 'h3']);
    expect(t.registry.list().map((h) => h.record.hostId)).toEqual(['h0', 'h1', 'h2', 'h3']);
  });

  it('marks nobody down while the controller cannot hear, and restarts the count when it can', async () => {
    const t = await setup();
    await t.registry.handleAnnounce(announce('h1'));
    t.registry.setListening(false);
    t.advance(10_000);
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('up');
    t.registry.setListening(true);
    t.advance(599);
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('up');
    t.advance(1);
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('down');
  });

  it('after a restart, marks a host down by the same rule measured from the start', async () => {
    const record: HostRecord = {
      hostId: 'h1',
      labels: {},
      inventory: null,
      heartbeatIntervalMs: 200,
      firstSeenMs: 1,
      lastAnnounceMs: 1,
      state: 'up',
      stateSinceMs: 1,
    };
    const t = await setup([record]);
    expect(t.registry.get('h1')?.live).toBeNull();
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('up');
    t.advance(599);
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('up');
    t.advance(1);
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('down');
  });
});

describe('HostRegistry heartbeat ticks', () => {
  const app = {
    app: 'web',
    desiredVersion: '1.0.0',
    activeVersion: '1.0.0',
    processState: 'running',
    pid: 7,
    restarts: 0,
    health: 'healthy',
    healthSinceMs: 1,
    installPhase: 'done',
    installVersion: '1.0.0',
    error: null,
    updatedAtMs: 1,
  } as const;

  it('hands on reports that say nothing new as the objects it handed on before, full heartbeat or tick', async () => {
    const t = await setup();
    await t.registry.handleHeartbeat(heartbeat('h1', 1, { apps: [{ ...app }] }));
    await t.registry.handleHeartbeat(heartbeat('h1', 2, { apps: [{ ...app }] }));
    t.registry.takeTick('h1', tick(3, 2));
    await t.registry.handleHeartbeat(heartbeat('h1', 4, { apps: [{ ...app, restarts: 1 }] }));
    await t.registry.handleHeartbeat(heartbeat('h1', 5, { apps: [{ ...app, restarts: 1 }] }));
    const apps = t.events.flatMap((e) => (e.type === 'heartbeat' ? [e.heartbeat.apps] : []));
    expect(apps).toHaveLength(5);
    expect(apps[1]).toBe(apps[0]);
    expect(apps[2]).toBe(apps[0]);
    expect(apps[3]).not.toBe(apps[0]);
    expect(apps[3]?.[0]?.restarts).toBe(1);
    expect(apps[4]).toBe(apps[3]);
    // The rest of each heartbeat is its own.
    expect(t.events.filter((e) => e.type === 'heartbeat').map((e) => (e.type === 'heartbeat' ? e.heartbeat.n : 0))).toEqual([1, 2, 3, 4, 5]);
  });

  it('takes a tick on its basis as that heartbeat sent again, with the new counter, time and load', async () => {
    const t = await setup();
    await t.registry.handleHeartbeat(heartbeat('h1', 1, { acceptedSeq: 7, apps: [app] }));
    t.advance(200);
    expect(t.registry.takeTick('h1', tick(2, 1))).toBe('taken');
    const live = t.registry.get('h1')?.live;
    expect(live).toMatchObject({ n: 2, sentAtMs: 400, receivedAtMs: t.now(), acceptedSeq: 7, apps: [app], load: { memUsedBytes: 2 } });
    const beats = t.events.filter((e) => e.type === 'heartbeat');
    expect(beats).toHaveLength(2);
    expect(beats[1]).toMatchObject({ hostId: 'h1', heartbeat: { n: 2, acceptedSeq: 7, heartbeatIntervalMs: 200, apps: [app], load: { memUsedBytes: 2 } } });
    // Its deadline started over from the tick.
    t.advance(599);
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('up');
  });

  it('drops reordered ticks and ticks of an earlier boot', async () => {
    const t = await setup();
    await t.registry.handleHeartbeat(heartbeat('h1', 1));
    expect(t.registry.takeTick('h1', tick(3, 1))).toBe('taken');
    expect(t.registry.takeTick('h1', tick(2, 1))).toBe('stale');
    expect(t.registry.takeTick('h1', tick(3, 1))).toBe('stale');
    await t.registry.handleAnnounce({ ...announce('h1'), bootId: 'boot-2' });
    await t.registry.handleHeartbeat(heartbeat('h1', 1, { bootId: 'boot-2' }));
    expect(t.registry.takeTick('h1', tick(9, 1))).toBe('stale');
    expect(t.registry.get('h1')?.live).toMatchObject({ bootId: 'boot-2', n: 1 });
  });

  it('believes only liveness from a tick whose basis it does not hold, and nothing from an unknown host', async () => {
    const t = await setup();
    expect(t.registry.takeTick('ghost', tick(2, 1))).toBe('no-basis');
    expect(t.registry.get('ghost')).toBeUndefined();

    await t.registry.handleHeartbeat(heartbeat('h1', 1, { apps: [app] }));
    const events = t.events.length;
    // The full heartbeat 5 was lost: ticks on it keep the host alive, and no event says more.
    for (let n = 6; n <= 9; n++) {
      t.advance(200);
      expect(t.registry.takeTick('h1', tick(n, 5))).toBe('no-basis');
      await t.registry.sweep();
    }
    expect(t.events.length).toBe(events);
    expect(t.registry.get('h1')?.record.state).toBe('up');
    expect(t.registry.get('h1')?.live).toMatchObject({ n: 9, apps: [app] });
    // A new boot whose first full heartbeat was lost: alive too, and its old state stays as it was.
    t.advance(200);
    expect(t.registry.takeTick('h1', tick(2, 1, { bootId: 'boot-9' }))).toBe('no-basis');
    expect(t.registry.get('h1')?.lastSeenMs).toBe(t.now());
    expect(t.registry.get('h1')?.live?.bootId).toBe('boot-1');
  });

  it('does not bring a down host up on a tick without its basis; on one with it, it does', async () => {
    const t = await setup();
    await t.registry.handleHeartbeat(heartbeat('h1', 1));
    t.advance(600);
    await t.registry.sweep();
    expect(t.registry.get('h1')?.record.state).toBe('down');
    expect(t.registry.takeTick('h1', tick(2, 5))).toBe('no-basis');
    expect(t.registry.get('h1')?.record.state).toBe('down');
    expect(t.registry.takeTick('h1', tick(3, 1))).toBe('taken');
    expect(t.registry.get('h1')?.record.state).toBe('up');
    await t.registry.stop();
    expect((await t.bucket.get('h1'))?.value.state).toBe('up');
  });

  it('after a controller restart, keeps a known host alive on ticks until its next full heartbeat', async () => {
    const record: HostRecord = {
      hostId: 'h1',
      labels: {},
      inventory: null,
      heartbeatIntervalMs: 200,
      firstSeenMs: 1,
      lastAnnounceMs: 1,
      state: 'up',
      stateSinceMs: 1,
    };
    const t = await setup([record]);
    for (let n = 2; n <= 6; n++) {
      t.advance(200);
      expect(t.registry.takeTick('h1', tick(n, 1))).toBe('no-basis');
      await t.registry.sweep();
    }
    expect(t.registry.get('h1')?.record.state).toBe('up');
  });
});

describe('HostRegistry deadline timer', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

  async function started(records: HostRecord[] = []) {
    vi.useFakeTimers({ now: 1_000_000 });
    const { bucket } = memoryBucket<HostRecord>('flotilla_hosts', recordSchemas.hosts as never);
    for (const r of records) await bucket.create(r.hostId, r);
    const registry = await HostRegistry.load({ bucket, downAfterMissed: 3, logger });
    const downs: { hostId: string; atMs: number; lastSeenMs: number }[] = [];
    registry.subscribe((e) => {
      if (e.type === 'state' && e.state === 'down') downs.push({ hostId: e.hostId, atMs: Date.now(), lastSeenMs: e.host.lastSeenMs });
    });
    registry.start();
    return { registry, bucket, downs, state: (id: string) => registry.get(id)?.record.state };
  }

  it('marks a silent host down on its own, exactly three intervals after it was last heard', async () => {
    const t = await started();
    await t.registry.handleAnnounce(announce('quiet'));
    await t.registry.handleAnnounce(announce('busy'));
    await advance(150);
    await t.registry.handleHeartbeat(heartbeat('quiet', 1));
    const lastHeard = Date.now();
    for (let n = 1; n <= 2; n++) {
      await advance(200);
      await t.registry.handleHeartbeat(heartbeat('busy', n));
    }
    // One timer for the whole registry.
    expect(vi.getTimerCount()).toBe(1);
    await advance(lastHeard + 599 - Date.now());
    expect(t.state('quiet')).toBe('up');
    await advance(1);
    expect(t.state('quiet')).toBe('down');
    expect(t.downs).toEqual([{ hostId: 'quiet', atMs: lastHeard + 600, lastSeenMs: lastHeard }]);
    expect((await t.bucket.get('quiet'))?.value).toMatchObject({ state: 'down', stateSinceMs: lastHeard + 600 });
    expect(t.state('busy')).toBe('up');
    await t.registry.stop();
  });

  it('brings the timer forward for a host with a shorter interval, and back up on its next heartbeat', async () => {
    const t = await started();
    await t.registry.handleAnnounce({ ...announce('slow'), heartbeatIntervalMs: 60_000 });
    await advance(1000);
    await t.registry.handleAnnounce(announce('fast'));
    await advance(599);
    expect(t.state('fast')).toBe('up');
    await advance(1);
    expect(t.state('fast')).toBe('down');
    expect(t.state('slow')).toBe('up');
    await t.registry.handleHeartbeat(heartbeat('fast', 1));
    expect(t.state('fast')).toBe('up');
    await advance(600);
    expect(t.state('fast')).toBe('down');
    await advance(180_000);
    expect(t.downs.map((d) => [d.hostId, d.atMs - d.lastSeenMs])).toEqual([
      ['fast', 600],
      ['fast', 600],
      ['slow', 180_000],
    ]);
    await t.registry.stop();
  });

  it('marks nobody down for its own stall: the deadline check that fires late waits for the heartbeats queued meanwhile', async () => {
    const t = await started();
    await t.registry.handleAnnounce(announce('h1'));
    await advance(500);
    // The event loop is held up for two seconds: the clock moves on, no timer runs.
    vi.setSystemTime(Date.now() + 2000);
    vi.runOnlyPendingTimers();
    expect(t.state('h1')).toBe('up');
    // The heartbeat that waited in the socket is read next, and counts.
    await t.registry.handleHeartbeat(heartbeat('h1', 1));
    const heard = Date.now();
    await advance(599);
    expect(t.state('h1')).toBe('up');
    await advance(1);
    expect(t.downs).toEqual([{ hostId: 'h1', atMs: heard + 600, lastSeenMs: heard }]);
    await t.registry.stop();
  });

  it('puts off the check for a few stalls in a row only, then judges a silent host anyway', async () => {
    const t = await started();
    await t.registry.handleAnnounce(announce('h1'));
    for (let stall = 1; stall <= 4 && t.state('h1') === 'up'; stall++) {
      vi.setSystemTime(Date.now() + 2000);
      vi.runOnlyPendingTimers();
    }
    expect(t.state('h1')).toBe('down');
    expect(t.downs).toHaveLength(1);
    await t.registry.stop();
  });

  it('checks deadlines as often with 1,000 hosts beating as with 10', async () => {
    const checksFor = async (hosts: number) => {
      const t = await started();
      const takeDue = vi.spyOn(LivenessDeadlines.prototype, 'takeDue');
      const ids = Array.from({ length: hosts }, (_, i) => `h${i}`);
      for (const id of ids) await t.registry.handleAnnounce(announce(id));
      // Ten seconds of heartbeats every 200 ms, the hosts spread over the interval in ten groups.
      for (let n = 1; n <= 50; n++) {
        for (let group = 0; group < 10; group++) {
          await advance(20);
          for (let i = group; i < hosts; i += 10) await t.registry.handleHeartbeat(heartbeat(ids[i] as string, n));
        }
      }
      expect(t.registry.counts()).toEqual({ up: hosts, down: 0 });
      const checks = takeDue.mock.calls.length;
      await t.registry.stop();
      vi.useRealTimers();
      vi.restoreAllMocks();
      return checks;
    };
    const few = await checksFor(10);
    const many = await checksFor(1000);
    expect(few).toBeLessThanOrEqual(30);
    expect(many).toBeLessThanOrEqual(few + 2);
  });

  it("marks nobody down while the controller cannot hear, then counts from when it can again", async () => {
    const t = await started();
    await t.registry.handleAnnounce(announce('h1'));
    t.registry.setListening(false);
    expect(vi.getTimerCount()).toBe(0);
    await advance(10_000);
    expect(t.state('h1')).toBe('up');
    t.registry.setListening(true);
    await advance(599);
    expect(t.state('h1')).toBe('up');
    await advance(1);
    expect(t.state('h1')).toBe('down');
    await t.registry.stop();
  });

  it('after a restart, marks a host that stays silent down three intervals after the start', async () => {
    const record: HostRecord = {
      hostId: 'h1',
      labels: {},
      inventory: null,
      heartbeatIntervalMs: 200,
      firstSeenMs: 1,
      lastAnnounceMs: 1,
      state: 'up',
      stateSinceMs: 1,
    };
    const t = await started([record, { ...record, hostId: 'h2', state: 'down' }]);
    await advance(599);
    expect(t.state('h1')).toBe('up');
    await advance(1);
    expect(t.state('h1')).toBe('down');
    expect(t.downs.map((d) => d.hostId)).toEqual(['h1']);
    await t.registry.stop();
  });
});
