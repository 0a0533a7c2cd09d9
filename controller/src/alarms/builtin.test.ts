import { describe, expect, it } from 'vitest';
import { createLogger, type AppStatusReport, type LoadFigures } from '@flotilla/shared';
import {
  BuiltinAlarms,
  EMPTY_BUILTIN_STATE,
  evaluateBuiltin,
  type BuiltinDecision,
  type BuiltinEvent,
  type BuiltinState,
  type HostFeedEvent,
} from './builtin.js';
import { alarmPolicyFor, alarmsConfigSchema, type AlarmsConfig } from './config.js';
import { MemoryAlarmSink } from './testing.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const T0 = 1_700_000_000_000;
const IDLE: LoadFigures = { cpuPercent: 10, memUsedBytes: 2e9, memTotalBytes: 8e9, diskFreeBytes: 1e10 };

function report(app: string, over: Partial<AppStatusReport> = {}): AppStatusReport {
  return {
    app,
    desiredVersion: '2.0.0',
    activeVersion: '2.0.0',
    processState: 'running',
    pid: 100,
    restarts: 0,
    health: 'healthy',
    healthSinceMs: 0,
    installPhase: 'idle',
    installVersion: null,
    error: null,
    updatedAtMs: 0,
    ...over,
  };
}

/** Drives the pure evaluator and keeps what it said. */
class Harness {
  state: BuiltinState = EMPTY_BUILTIN_STATE;
  decisions: BuiltinDecision[] = [];
  wakeAtMs: number | null = null;

  constructor(readonly config: AlarmsConfig = alarmsConfigSchema.parse({})) {}

  feed(event: BuiltinEvent): BuiltinDecision[] {
    const r = evaluateBuiltin(this.state, event, (app) => alarmPolicyFor(this.config, app));
    this.state = r.state;
    this.wakeAtMs = r.wakeAtMs;
    this.decisions.push(...r.decisions);
    return r.decisions;
  }

  beat(hostId: string, nowMs: number, apps: AppStatusReport[], load: LoadFigures = IDLE): BuiltinDecision[] {
    return this.feed({ kind: 'heartbeat', hostId, load, apps, nowMs });
  }

  tick(nowMs: number): BuiltinDecision[] {
    return this.feed({ kind: 'tick', nowMs });
  }

  fired(): string[] {
    return this.decisions.filter((d) => d.kind === 'fire').map((d) => `${d.alarm.app}:${d.type}`);
  }

  cleared(): string[] {
    return this.decisions.filter((d) => d.kind === 'clear').map((d) => `${d.app}:${d.type}`);
  }
}

describe('built-in health alarm', () => {
  it('fires once when more than half of the hosts running the app fail for 10s, and clears', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { health: 'unhealthy' })]);
    h.beat('h2', T0, [report('web', { health: 'unhealthy' })]);
    h.beat('h3', T0, [report('web')]);
    expect(h.fired()).toEqual([]);
    expect(h.wakeAtMs).toBe(T0 + 10_000);

    h.tick(T0 + 9_999);
    expect(h.fired()).toEqual([]);
    const [fire] = h.tick(T0 + 10_000);
    expect(fire).toMatchObject({
      kind: 'fire',
      type: 'health',
      alarm: {
        app: 'web',
        source: 'builtin:health',
        severity: 'critical',
        receivedAtMs: T0 + 10_000,
        reason: 'health failing on 2 of 3 hosts running web (66.7% > 50%) for 10.0s',
        summary: { failing: 2, running: 3, hosts: ['h1', 'h2'], versions: ['2.0.0'] },
      },
    });

    // Latched: more reports and ticks while it holds raise nothing more.
    for (let i = 1; i <= 5; i++) {
      h.beat('h1', T0 + 10_000 + i * 1000, [report('web', { health: 'unhealthy' })]);
      h.tick(T0 + 10_000 + i * 1000);
    }
    expect(h.fired()).toEqual(['web:health']);

    h.beat('h1', T0 + 20_000, [report('web')]);
    expect(h.cleared()).toEqual(['web:health']);
    expect(h.decisions.at(-1)).toMatchObject({ kind: 'clear', lastedMs: 20_000 });

    // A new episode needs its full duration again.
    h.beat('h1', T0 + 30_000, [report('web', { health: 'unhealthy' })]);
    h.tick(T0 + 39_999);
    expect(h.fired()).toEqual(['web:health']);
    h.tick(T0 + 40_000);
    expect(h.fired()).toEqual(['web:health', 'web:health']);
  });

  it('needs MORE than the share: half of two hosts is not enough', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { health: 'unhealthy' })]);
    h.beat('h2', T0, [report('web')]);
    h.tick(T0 + 60_000);
    expect(h.fired()).toEqual([]);
    expect(h.wakeAtMs).toBeNull();
  });

  it('starts the duration again when the condition lapses before it runs out', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { health: 'unhealthy' })]);
    h.beat('h1', T0 + 8_000, [report('web')]);
    h.beat('h1', T0 + 9_000, [report('web', { health: 'unhealthy' })]);
    h.tick(T0 + 10_000);
    expect(h.fired()).toEqual([]);
    expect(h.wakeAtMs).toBe(T0 + 19_000);
    h.tick(T0 + 19_000);
    expect(h.fired()).toEqual(['web:health']);
  });

  it('counts an exited process as failing, and ignores hosts not running the app', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { processState: 'exited', health: 'unknown' })]);
    h.beat('h2', T0, [report('web', { activeVersion: null, processState: 'stopped', health: 'unknown' })]);
    h.beat('h3', T0, [report('web', { processState: 'stopped', health: 'unhealthy' })]);
    h.tick(T0 + 10_000);
    expect(h.decisions).toMatchObject([{ kind: 'fire', alarm: { summary: { failing: 1, running: 1 } } }]);
  });

  it('honours per-app thresholds and switches', () => {
    const config = alarmsConfigSchema.parse({
      defaults: { health: { failingShare: '25%', for: '30s' } },
      apps: { api: { health: { enabled: false } } },
    });
    const h = new Harness(config);
    for (const app of ['web', 'api']) {
      h.beat(`${app}-1`, T0, [report(app, { health: 'unhealthy' })]);
      h.beat(`${app}-2`, T0, [report(app)]);
      h.beat(`${app}-3`, T0, [report(app)]);
    }
    h.tick(T0 + 29_999);
    expect(h.fired()).toEqual([]);
    h.tick(T0 + 30_000);
    expect(h.fired()).toEqual(['web:health']);
  });

  it('drops the reports of a host marked down, and of apps a host no longer reports', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { health: 'unhealthy' }), report('api', { health: 'unhealthy' })]);
    h.beat('h2', T0, [report('web', { health: 'unhealthy' })]);
    h.beat('h3', T0, [report('web')]);
    h.tick(T0 + 10_000);
    expect(h.fired().sort()).toEqual(['api:health', 'web:health']);

    h.feed({ kind: 'host-down', hostId: 'h1', nowMs: T0 + 11_000 });
    // web: 1 of 2 failing is no longer more than half; api: no host left.
    expect(h.cleared().sort()).toEqual(['api:health', 'web:health']);
    expect(Object.keys(h.state.apps)).toEqual(['web']);
    expect(Object.keys(h.state.apps.web!.hosts).sort()).toEqual(['h2', 'h3']);

    h.beat('h2', T0 + 12_000, []);
    expect(Object.keys(h.state.apps.web!.hosts)).toEqual(['h3']);
  });

  it('fires when the healthy host goes down and leaves only failing ones', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { health: 'unhealthy' })]);
    h.beat('h2', T0, [report('web')]);
    h.feed({ kind: 'host-down', hostId: 'h2', nowMs: T0 + 1_000 });
    h.tick(T0 + 11_000);
    expect(h.fired()).toEqual(['web:health']);
  });
});

describe('built-in crash-loop alarm', () => {
  it('fires at once when a host reports the app in crash-loop', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web')]);
    h.beat('h2', T0, [report('web', { processState: 'crash-loop', restarts: 6 })]);
    expect(h.decisions).toMatchObject([
      { kind: 'fire', type: 'crash-loop', alarm: { source: 'builtin:crash-loop', reason: 'host h2 reports web in crash-loop', summary: { hosts: ['h2'] } } },
    ]);
    h.beat('h2', T0 + 1_000, [report('web', { processState: 'crash-loop', restarts: 7 })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
  });

  it('fires when restarts grow past the limit within the window, and clears as they age out', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { restarts: 0 })]);
    h.beat('h1', T0 + 60_000, [report('web', { restarts: 2, processState: 'backoff' })]);
    h.beat('h1', T0 + 120_000, [report('web', { restarts: 3 })]);
    expect(h.fired()).toEqual([]);
    h.beat('h1', T0 + 180_000, [report('web', { restarts: 4 })]);
    expect(h.decisions).toMatchObject([
      { kind: 'fire', type: 'crash-loop', alarm: { reason: 'host h1 restarted web 4 times within 5m00s (limit 3)' } },
    ]);
    // The window slides past the restart at +60s at +360s: growth since then is 2.
    expect(h.wakeAtMs).toBe(T0 + 360_000);
    h.tick(T0 + 359_999);
    expect(h.cleared()).toEqual([]);
    h.tick(T0 + 360_000);
    expect(h.cleared()).toEqual(['web:crash-loop']);
  });

  it('does not count restarts spread over more than the window', () => {
    const h = new Harness();
    for (let i = 0; i <= 8; i++) h.beat('h1', T0 + i * 120_000, [report('web', { restarts: i })]);
    expect(h.fired()).toEqual([]);
  });

  it('starts counting afresh when a new version is activated', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { activeVersion: '1.0.0', restarts: 3 })]);
    h.beat('h1', T0 + 1_000, [report('web', { activeVersion: '2.0.0', restarts: 0 })]);
    h.beat('h1', T0 + 2_000, [report('web', { activeVersion: '2.0.0', restarts: 3 })]);
    expect(h.fired()).toEqual([]);
    h.beat('h1', T0 + 3_000, [report('web', { activeVersion: '2.0.0', restarts: 4 })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
  });
});

describe('built-in resource alarm', () => {
  const hot: LoadFigures = { cpuPercent: 97, memUsedBytes: 2e9, memTotalBytes: 8e9, diskFreeBytes: 1e10 };
  const full: LoadFigures = { cpuPercent: 5, memUsedBytes: 7.8e9, memTotalBytes: 8e9, diskFreeBytes: 1e10 };

  it('is off by default', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web')], hot);
    h.beat('h1', T0 + 600_000, [report('web')], hot);
    expect(h.fired()).toEqual([]);
    expect(h.wakeAtMs).toBeNull();
  });

  it('fires when a host running the app stays over the CPU limit for the duration', () => {
    const h = new Harness(alarmsConfigSchema.parse({ apps: { web: { resources: { cpuPercent: 95 } } } }));
    h.beat('h1', T0, [report('web'), report('api')], hot);
    expect(h.wakeAtMs).toBe(T0 + 120_000);
    h.beat('h1', T0 + 60_000, [report('web'), report('api')], IDLE);
    h.beat('h1', T0 + 61_000, [report('web'), report('api')], hot);
    h.tick(T0 + 180_000);
    expect(h.fired()).toEqual([]);
    h.tick(T0 + 181_000);
    expect(h.decisions).toMatchObject([
      {
        kind: 'fire',
        type: 'resources',
        alarm: { app: 'web', source: 'builtin:resources', reason: 'host h1 running web is over its limits for 2m00s: CPU 97% > 95%' },
      },
    ]);
    h.beat('h1', T0 + 190_000, [report('web'), report('api')], IDLE);
    expect(h.cleared()).toEqual(['web:resources']);
  });

  it('watches memory as a share of the host total, only on hosts running the app', () => {
    const h = new Harness(alarmsConfigSchema.parse({ defaults: { resources: { memoryPercent: 90, for: '1m' } } }));
    h.beat('h1', T0, [report('web', { activeVersion: null, processState: 'stopped' })], full);
    h.beat('h2', T0, [report('web')], IDLE);
    h.tick(T0 + 120_000);
    expect(h.fired()).toEqual([]);
    h.beat('h2', T0 + 120_000, [report('web')], full);
    h.tick(T0 + 180_000);
    expect(h.decisions).toMatchObject([{ kind: 'fire', alarm: { reason: 'host h2 running web is over its limits for 1m00s: memory 97.5% > 90%' } }]);
  });
});

describe('evaluateBuiltin', () => {
  it('never changes the state it is given', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { health: 'unhealthy', restarts: 1 })]);
    const before = JSON.stringify(h.state);
    const frozen = deepFreeze(h.state);
    const r = evaluateBuiltin(frozen, { kind: 'tick', nowMs: T0 + 20_000 }, () => alarmsConfigSchema.parse({}).defaults);
    evaluateBuiltin(frozen, { kind: 'host-down', hostId: 'h1', nowMs: T0 + 20_000 }, () => alarmsConfigSchema.parse({}).defaults);
    expect(JSON.stringify(frozen)).toBe(before);
    expect(r.state).not.toBe(frozen);
    expect(r.decisions).toHaveLength(1);
  });

  it('takes app and host names that Object itself has (constructor) as any other', () => {
    const h = new Harness();
    h.beat('constructor', T0, [report('constructor', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual(['constructor:crash-loop']);
    expect(Object.keys(h.state.apps.constructor!.hosts)).toEqual(['constructor']);
  });

  it('unlatches after a failed hand-over and raises again from the retry time', () => {
    const h = new Harness();
    h.beat('h1', T0, [report('web', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
    h.feed({ kind: 'raise-failed', app: 'web', alarm: 'crash-loop', retryAtMs: T0 + 5_000, nowMs: T0 + 100 });
    expect(h.wakeAtMs).toBe(T0 + 5_000);
    h.beat('h1', T0 + 1_000, [report('web', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
    h.tick(T0 + 5_000);
    expect(h.fired()).toEqual(['web:crash-loop', 'web:crash-loop']);
  });
});

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

class FakeFeed {
  private listeners = new Set<(e: HostFeedEvent) => void>();
  subscribe(listener: (e: HostFeedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(event: HostFeedEvent): void {
    for (const l of this.listeners) l(event);
  }
  get size(): number {
    return this.listeners.size;
  }
}

describe('BuiltinAlarms', () => {
  function setup() {
    let now = T0;
    const feed = new FakeFeed();
    const sink = new MemoryAlarmSink(['web']);
    const alarms = new BuiltinAlarms({
      feed,
      sink,
      config: alarmsConfigSchema.parse({}),
      logger,
      now: () => now,
      retryMs: 5_000,
    });
    const beat = (hostId: string, apps: AppStatusReport[]) =>
      feed.emit({ type: 'heartbeat', hostId, heartbeat: { load: IDLE, apps } });
    return { feed, sink, alarms, beat, advance: (ms: number) => (now += ms) };
  }

  it('hands each episode to the sink once, from host registry events', async () => {
    const { feed, sink, alarms, beat, advance } = setup();
    alarms.start();
    beat('h1', [report('web', { health: 'unhealthy' })]);
    feed.emit({ type: 'announce', hostId: 'h2' });
    advance(10_000);
    beat('h1', [report('web', { health: 'unhealthy' })]);
    beat('h1', [report('web', { health: 'unhealthy' })]);
    alarms.tick();
    await alarms.idle();
    expect(sink.raised.map((a) => `${a.app}:${a.source}`)).toEqual(['web:builtin:health']);

    feed.emit({ type: 'state', hostId: 'h1', state: 'down' });
    expect(alarms.snapshot().apps).toEqual({});
    await alarms.stop();
    expect(feed.size).toBe(0);
  });

  it('tries a failed hand-over again after the retry delay, not before', async () => {
    const { sink, alarms, beat, advance } = setup();
    alarms.start();
    sink.failing = true;
    beat('h1', [report('web', { processState: 'crash-loop' })]);
    await alarms.idle();
    expect(sink.raised).toHaveLength(0);
    sink.failing = false;
    advance(1_000);
    beat('h1', [report('web', { processState: 'crash-loop' })]);
    await alarms.idle();
    expect(sink.raised).toHaveLength(0);
    advance(4_000);
    alarms.tick();
    await alarms.idle();
    expect(sink.raised.map((a) => a.source)).toEqual(['builtin:crash-loop']);
    await alarms.stop();
  });
});
