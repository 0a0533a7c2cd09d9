import { describe, expect, it } from 'vitest';
import type { AppStatusReport, LoadFigures } from '@flotilla/shared';
import { alarmPolicyFor, alarmsConfigSchema, type AlarmsConfig } from '../config.js';
import { IDLE_LOAD, appReport } from '../testing.js';
import { NO_EPISODE, stepEpisode } from './episode.js';
import { BuiltinEvaluator, type BuiltinDecision, type BuiltinEvent } from './evaluator.js';

const T0 = 1_700_000_000_000;

/**
 * A config where one host is enough to fire: most tests here are about each condition on its own;
 * the quorum (how many hosts it must hold on) has its own tests below.
 */
function conditionsOnly(input: { defaults?: Record<string, unknown>; apps?: Record<string, unknown> } = {}): AlarmsConfig {
  return alarmsConfigSchema.parse({ ...input, defaults: { quorum: { minHosts: 1 }, ...input.defaults } });
}

/** Drives the evaluator (no I/O, no clock) and keeps what it said. */
class Harness {
  readonly evaluator: BuiltinEvaluator;
  decisions: BuiltinDecision[] = [];
  wakeAtMs: number | null = null;

  /** Hosts assigned each app, for the quorum. */
  readonly assigned = new Map<string, number>();

  constructor(readonly config: AlarmsConfig = conditionsOnly()) {
    this.evaluator = new BuiltinEvaluator(
      (app) => alarmPolicyFor(this.config, app),
      (app) => this.assigned.get(app) ?? 0,
    );
  }

  feed(event: BuiltinEvent): BuiltinDecision[] {
    const r = this.evaluator.apply(event);
    this.wakeAtMs = r.wakeAtMs;
    this.decisions.push(...r.decisions);
    return r.decisions;
  }

  beat(hostId: string, nowMs: number, apps: AppStatusReport[], load: LoadFigures = IDLE_LOAD): BuiltinDecision[] {
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
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy' })]);
    h.beat('h2', T0, [appReport('web', { health: 'unhealthy' })]);
    h.beat('h3', T0, [appReport('web')]);
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
      h.beat('h1', T0 + 10_000 + i * 1000, [appReport('web', { health: 'unhealthy' })]);
      h.tick(T0 + 10_000 + i * 1000);
    }
    expect(h.fired()).toEqual(['web:health']);

    h.beat('h1', T0 + 20_000, [appReport('web')]);
    expect(h.cleared()).toEqual(['web:health']);
    expect(h.decisions.at(-1)).toMatchObject({ kind: 'clear', lastedMs: 20_000 });

    // A new episode needs its full duration again.
    h.beat('h1', T0 + 30_000, [appReport('web', { health: 'unhealthy' })]);
    h.tick(T0 + 39_999);
    expect(h.fired()).toEqual(['web:health']);
    h.tick(T0 + 40_000);
    expect(h.fired()).toEqual(['web:health', 'web:health']);
  });

  it('needs MORE than the share: half of two hosts is not enough', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy' })]);
    h.beat('h2', T0, [appReport('web')]);
    h.tick(T0 + 60_000);
    expect(h.fired()).toEqual([]);
    expect(h.wakeAtMs).toBeNull();
  });

  it('starts the duration again when the condition lapses before it runs out', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy' })]);
    h.beat('h1', T0 + 8_000, [appReport('web')]);
    h.beat('h1', T0 + 9_000, [appReport('web', { health: 'unhealthy' })]);
    h.tick(T0 + 10_000);
    expect(h.fired()).toEqual([]);
    expect(h.wakeAtMs).toBe(T0 + 19_000);
    h.tick(T0 + 19_000);
    expect(h.fired()).toEqual(['web:health']);
  });

  it('counts an exited process as failing, and ignores hosts not running the app', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { processState: 'exited', health: 'unknown' })]);
    h.beat('h2', T0, [appReport('web', { activeVersion: null, processState: 'stopped', health: 'unknown' })]);
    h.beat('h3', T0, [appReport('web', { processState: 'stopped', health: 'unhealthy' })]);
    h.tick(T0 + 10_000);
    expect(h.decisions).toMatchObject([{ kind: 'fire', alarm: { summary: { failing: 1, running: 1 } } }]);
  });

  it('honours per-app thresholds and switches', () => {
    const config = conditionsOnly({
      defaults: { health: { failingShare: '25%', for: '30s' } },
      apps: { api: { health: { enabled: false } } },
    });
    const h = new Harness(config);
    for (const app of ['web', 'api']) {
      h.beat(`${app}-1`, T0, [appReport(app, { health: 'unhealthy' })]);
      h.beat(`${app}-2`, T0, [appReport(app)]);
      h.beat(`${app}-3`, T0, [appReport(app)]);
    }
    h.tick(T0 + 29_999);
    expect(h.fired()).toEqual([]);
    h.tick(T0 + 30_000);
    expect(h.fired()).toEqual(['web:health']);
  });

  it('drops the reports of a host marked down, and of apps a host no longer reports', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy' }), appReport('api', { health: 'unhealthy' })]);
    h.beat('h2', T0, [appReport('web', { health: 'unhealthy' })]);
    h.beat('h3', T0, [appReport('web')]);
    h.tick(T0 + 10_000);
    expect(h.fired().sort()).toEqual(['api:health', 'web:health']);

    h.feed({ kind: 'host-down', hostId: 'h1', nowMs: T0 + 11_000 });
    // web: 1 of 2 failing is no longer more than half; api: no host left.
    expect(h.cleared().sort()).toEqual(['api:health', 'web:health']);
    expect(h.evaluator.appNames()).toEqual(['web']);
    expect(h.evaluator.snapshot('web')?.hosts).toEqual(['h2', 'h3']);

    h.beat('h2', T0 + 12_000, []);
    expect(h.evaluator.snapshot('web')?.hosts).toEqual(['h3']);
  });

  it('fires when the healthy host goes down and leaves only failing ones', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy' })]);
    h.beat('h2', T0, [appReport('web')]);
    h.feed({ kind: 'host-down', hostId: 'h2', nowMs: T0 + 1_000 });
    h.tick(T0 + 11_000);
    expect(h.fired()).toEqual(['web:health']);
  });
});

describe('built-in crash-loop alarm', () => {
  it('fires at once when a host reports the app in crash-loop', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web')]);
    h.beat('h2', T0, [appReport('web', { processState: 'crash-loop', restarts: 6 })]);
    expect(h.decisions).toMatchObject([
      { kind: 'fire', type: 'crash-loop', alarm: { source: 'builtin:crash-loop', reason: 'host h2 reports web in crash-loop', summary: { hosts: ['h2'] } } },
    ]);
    h.beat('h2', T0 + 1_000, [appReport('web', { processState: 'crash-loop', restarts: 7 })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
  });

  it('fires when restarts grow past the limit within the window, and clears as they age out', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { restarts: 0 })]);
    h.beat('h1', T0 + 60_000, [appReport('web', { restarts: 2, processState: 'backoff' })]);
    h.beat('h1', T0 + 120_000, [appReport('web', { restarts: 3 })]);
    expect(h.fired()).toEqual([]);
    h.beat('h1', T0 + 180_000, [appReport('web', { restarts: 4 })]);
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
    for (let i = 0; i <= 8; i++) h.beat('h1', T0 + i * 120_000, [appReport('web', { restarts: i })]);
    expect(h.fired()).toEqual([]);
  });

  it('starts counting afresh when a new version is activated', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { activeVersion: '1.0.0', restarts: 3 })]);
    h.beat('h1', T0 + 1_000, [appReport('web', { activeVersion: '2.0.0', restarts: 0 })]);
    h.beat('h1', T0 + 2_000, [appReport('web', { activeVersion: '2.0.0', restarts: 3 })]);
    expect(h.fired()).toEqual([]);
    h.beat('h1', T0 + 3_000, [appReport('web', { activeVersion: '2.0.0', restarts: 4 })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
  });
});

describe('built-in resource alarm', () => {
  const hot: LoadFigures = { cpuPercent: 97, memUsedBytes: 2e9, memTotalBytes: 8e9, diskFreeBytes: 1e10 };
  const full: LoadFigures = { cpuPercent: 5, memUsedBytes: 7.8e9, memTotalBytes: 8e9, diskFreeBytes: 1e10 };

  it('is off by default', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web')], hot);
    h.beat('h1', T0 + 600_000, [appReport('web')], hot);
    expect(h.fired()).toEqual([]);
    expect(h.wakeAtMs).toBeNull();
  });

  it('fires when a host running the app stays over the CPU limit for the duration', () => {
    const h = new Harness(conditionsOnly({ apps: { web: { resources: { cpuPercent: 95 } } } }));
    h.beat('h1', T0, [appReport('web'), appReport('api')], hot);
    expect(h.wakeAtMs).toBe(T0 + 120_000);
    h.beat('h1', T0 + 60_000, [appReport('web'), appReport('api')], IDLE_LOAD);
    h.beat('h1', T0 + 61_000, [appReport('web'), appReport('api')], hot);
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
    h.beat('h1', T0 + 190_000, [appReport('web'), appReport('api')], IDLE_LOAD);
    expect(h.cleared()).toEqual(['web:resources']);
  });

  it('names the figures of the latest heartbeat, after a long quiet stretch under the limits', () => {
    const h = new Harness(conditionsOnly({ apps: { web: { resources: { cpuPercent: 95, for: '1m' } } } }));
    for (let s = 0; s < 5; s++) h.beat('h1', T0 + s * 1000, [appReport('web')], { ...IDLE_LOAD, cpuPercent: 10 + s });
    h.beat('h1', T0 + 5_000, [appReport('web')], { ...IDLE_LOAD, cpuPercent: 96 });
    h.beat('h1', T0 + 30_000, [appReport('web')], { ...IDLE_LOAD, cpuPercent: 99 });
    h.tick(T0 + 65_000);
    expect(h.decisions).toMatchObject([{ kind: 'fire', alarm: { reason: 'host h1 running web is over its limits for 1m00s: CPU 99% > 95%' } }]);
  });

  it('watches memory as a share of the host total, only on hosts running the app', () => {
    const h = new Harness(conditionsOnly({ defaults: { resources: { memoryPercent: 90, for: '1m' } } }));
    h.beat('h1', T0, [appReport('web', { activeVersion: null, processState: 'stopped' })], full);
    h.beat('h2', T0, [appReport('web')], IDLE_LOAD);
    h.tick(T0 + 120_000);
    expect(h.fired()).toEqual([]);
    h.beat('h2', T0 + 120_000, [appReport('web')], full);
    h.tick(T0 + 180_000);
    expect(h.decisions).toMatchObject([{ kind: 'fire', alarm: { reason: 'host h2 running web is over its limits for 1m00s: memory 97.5% > 90%' } }]);
  });
});

describe('BuiltinEvaluator', () => {
  it('takes app and host names that Object itself has (constructor) as any other', () => {
    const h = new Harness();
    h.beat('constructor', T0, [appReport('constructor', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual(['constructor:crash-loop']);
    expect(h.evaluator.snapshot('constructor')?.hosts).toEqual(['constructor']);
  });

  it('unlatches after a failed hand-over and raises again from the retry time', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
    h.feed({ kind: 'raise-failed', app: 'web', alarm: 'crash-loop', retryAtMs: T0 + 5_000, nowMs: T0 + 100 });
    expect(h.wakeAtMs).toBe(T0 + 5_000);
    h.beat('h1', T0 + 1_000, [appReport('web', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
    h.tick(T0 + 5_000);
    expect(h.fired()).toEqual(['web:crash-loop', 'web:crash-loop']);
  });

  it('keeps its counts as hosts move between failing, healthy and stopped', () => {
    const h = new Harness();
    const counts = () => {
      const s = h.evaluator.snapshot('web');
      return { running: s?.running, failing: s?.failing, since: s?.episodes.health.sinceMs };
    };
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy' })]);
    h.beat('h2', T0, [appReport('web', { health: 'unhealthy' })]);
    h.beat('h3', T0, [appReport('web')]);
    expect(counts()).toEqual({ running: 3, failing: 2, since: T0 });

    h.beat('h1', T0 + 1_000, [appReport('web')]);
    expect(counts()).toEqual({ running: 3, failing: 1, since: null });
    h.beat('h2', T0 + 2_000, [appReport('web', { processState: 'stopped', health: 'unhealthy' })]);
    expect(counts()).toEqual({ running: 2, failing: 0, since: null });
    h.beat('h3', T0 + 3_000, [appReport('web', { processState: 'exited', health: 'unknown' })]);
    expect(counts()).toEqual({ running: 2, failing: 1, since: null });
    h.beat('h1', T0 + 4_000, [appReport('web', { activeVersion: null, processState: 'stopped', health: 'unknown' })]);
    expect(counts()).toEqual({ running: 1, failing: 1, since: T0 + 4_000 });
    // The same report again changes nothing.
    h.beat('h3', T0 + 5_000, [appReport('web', { processState: 'exited', health: 'unknown' })]);
    expect(counts()).toEqual({ running: 1, failing: 1, since: T0 + 4_000 });
    expect(h.wakeAtMs).toBe(T0 + 14_000);
  });

  it('takes a host marked down out of every count: failing, crash-looping, over its limits', () => {
    const h = new Harness(conditionsOnly({ defaults: { resources: { cpuPercent: 90, for: '1m' } } }));
    const hot: LoadFigures = { ...IDLE_LOAD, cpuPercent: 99 };
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy', processState: 'crash-loop' })], hot);
    h.beat('h2', T0, [appReport('web')], hot);
    h.beat('h3', T0, [appReport('web')]);
    expect(h.evaluator.snapshot('web')).toMatchObject({ running: 3, failing: 1, looping: ['h1'], overLimits: ['h1', 'h2'] });
    expect(h.fired()).toEqual(['web:crash-loop']);

    h.feed({ kind: 'host-down', hostId: 'h1', nowMs: T0 + 1_000 });
    expect(h.evaluator.snapshot('web')).toMatchObject({ hosts: ['h2', 'h3'], running: 2, failing: 0, looping: [], overLimits: ['h2'] });
    expect(h.cleared()).toEqual(['web:crash-loop']);
    h.tick(T0 + 60_000);
    expect(h.decisions.at(-1)).toMatchObject({ kind: 'fire', alarm: { reason: 'host h2 running web is over its limits for 1m00s: CPU 99% > 90%' } });
  });

  it('clears every episode and forgets the app when all its hosts leave', () => {
    const h = new Harness(conditionsOnly({ defaults: { resources: { cpuPercent: 90, for: '1m' } } }));
    const hot: LoadFigures = { ...IDLE_LOAD, cpuPercent: 99 };
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy', processState: 'crash-loop' }), appReport('api')]);
    h.beat('h2', T0, [appReport('web', { health: 'unhealthy' })], hot);
    h.tick(T0 + 10_000);
    expect(h.fired().sort()).toEqual(['web:crash-loop', 'web:health']);
    expect(h.wakeAtMs).toBe(T0 + 60_000);

    h.beat('h1', T0 + 11_000, [appReport('api')]);
    expect(h.cleared()).toEqual(['web:crash-loop']);
    h.feed({ kind: 'host-down', hostId: 'h2', nowMs: T0 + 12_000 });
    expect(h.cleared()).toEqual(['web:crash-loop', 'web:health']);
    expect(h.decisions.at(-1)).toMatchObject({ kind: 'clear', type: 'health', lastedMs: 12_000 });
    expect(h.evaluator.appNames()).toEqual(['api']);
    expect(h.wakeAtMs).toBeNull();

    // Coming back starts from nothing: the over-limit duration is counted afresh.
    h.beat('h2', T0 + 13_000, [appReport('web')], hot);
    expect(h.wakeAtMs).toBe(T0 + 73_000);
  });

  it('slides the restart window on any report of the app, not only on its tick', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { restarts: 0 })]);
    h.beat('h1', T0 + 60_000, [appReport('web', { restarts: 2 })]);
    h.beat('h1', T0 + 180_000, [appReport('web', { restarts: 4 })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
    h.beat('h2', T0 + 359_999, [appReport('web')]);
    expect(h.cleared()).toEqual([]);
    h.beat('h2', T0 + 400_000, [appReport('web')]);
    expect(h.decisions.at(-1)).toEqual({ kind: 'clear', type: 'crash-loop', app: 'web', atMs: T0 + 400_000, lastedMs: 220_000 });
  });

  it('does not look again at an app for a report that repeats the last, until a wake-up of it is due', () => {
    const evaluated: string[] = [];
    const config = conditionsOnly();
    const h = new BuiltinEvaluator(
      (app) => alarmPolicyFor(config, app),
      (app) => {
        evaluated.push(app);
        return 0;
      },
    );
    const beat = (ms: number, over: Parameters<typeof appReport>[1] = {}) =>
      h.apply({ kind: 'heartbeat', hostId: 'h1', load: IDLE_LOAD, apps: [appReport('web', over)], nowMs: T0 + ms });
    beat(0);
    expect(evaluated).toEqual(['web']);
    evaluated.length = 0;
    // The same report again (new objects, same fields), second after second: nothing to look at.
    for (let i = 1; i <= 5; i++) expect(beat(i * 1000).decisions).toEqual([]);
    expect(evaluated).toEqual([]);
    // A change is looked at, and the health episode starts (its alarm due 10 s on).
    expect(beat(6000, { health: 'unhealthy' }).wakeAtMs).toBe(T0 + 16_000);
    expect(evaluated).toEqual(['web']);
    evaluated.length = 0;
    expect(beat(7000, { health: 'unhealthy' }).decisions).toEqual([]);
    expect(evaluated).toEqual([]);
    // A repeat once the wake-up is due moves time on as a tick would: the alarm fires.
    expect(beat(16_000, { health: 'unhealthy' }).decisions).toMatchObject([{ kind: 'fire', type: 'health', alarm: { app: 'web' } }]);
    expect(evaluated).toEqual(['web']);
  });

  it('looks only at the apps a heartbeat carries, and on a tick only at the apps due', () => {
    const looked: string[] = [];
    const config = conditionsOnly();
    const h = new BuiltinEvaluator((app) => {
      looked.push(app);
      return alarmPolicyFor(config, app);
    });
    for (let i = 0; i < 50; i++) h.apply({ kind: 'heartbeat', hostId: `h${i}`, load: IDLE_LOAD, apps: [appReport(`app${i}`)], nowMs: T0 });
    looked.length = 0;
    const r = h.apply({ kind: 'heartbeat', hostId: 'h7', load: IDLE_LOAD, apps: [appReport('app7', { health: 'unhealthy' })], nowMs: T0 + 1_000 });
    expect(new Set(looked)).toEqual(new Set(['app7']));
    expect(r.wakeAtMs).toBe(T0 + 11_000);

    looked.length = 0;
    expect(h.apply({ kind: 'tick', nowMs: T0 + 5_000 }).decisions).toEqual([]);
    expect(looked).toEqual([]);
    const fired = h.apply({ kind: 'tick', nowMs: T0 + 11_000 });
    expect(fired.decisions).toMatchObject([{ kind: 'fire', alarm: { app: 'app7' } }]);
    expect(new Set(looked)).toEqual(new Set(['app7']));
    expect(fired.wakeAtMs).toBeNull();
  });

  it('takes an event dated before the latest one as happening at the latest time', () => {
    const h = new Harness();
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy' })]);
    h.tick(T0 + 10_000);
    expect(h.fired()).toEqual(['web:health']);
    h.beat('h1', T0 + 2_000, [appReport('web')]);
    expect(h.decisions.at(-1)).toEqual({ kind: 'clear', type: 'health', app: 'web', atMs: T0 + 10_000, lastedMs: 10_000 });
  });

  it('lists at most 10 hosts and versions when it fires, and counts them all', () => {
    const h = new Harness();
    for (let i = 0; i < 30; i++) {
      h.beat(`h${String(i).padStart(2, '0')}`, T0, [appReport('web', { health: i < 20 ? 'unhealthy' : 'healthy', activeVersion: `2.0.${i}` })]);
    }
    const [fire] = h.tick(T0 + 10_000);
    expect(fire).toMatchObject({
      alarm: {
        reason: 'health failing on 20 of 30 hosts running web (66.7% > 50%) for 10.0s',
        summary: {
          failing: 20,
          running: 30,
          hosts: ['h00', 'h01', 'h02', 'h03', 'h04', 'h05', 'h06', 'h07', 'h08', 'h09'],
          versions: ['2.0.0', '2.0.1', '2.0.2', '2.0.3', '2.0.4', '2.0.5', '2.0.6', '2.0.7', '2.0.8', '2.0.9'],
        },
      },
    });
  });
});

describe('stepEpisode', () => {
  const holds = { holds: true, forMs: 10_000, wakeAtMs: null };
  const lapsed = { holds: false, forMs: 10_000, wakeAtMs: null };

  it('waits out the duration, fires once, and reports how long a raised alarm lasted', () => {
    const started = stepEpisode(NO_EPISODE, holds, T0);
    expect(started).toEqual({ episode: { sinceMs: T0, firing: false, retryAtMs: null }, fire: false, clearedAfterMs: null, wakeAtMs: T0 + 10_000 });
    const fired = stepEpisode(started.episode, holds, T0 + 10_000);
    expect(fired).toMatchObject({ episode: { sinceMs: T0, firing: true }, fire: true, wakeAtMs: null });
    const latched = stepEpisode(fired.episode, holds, T0 + 20_000);
    expect(latched).toMatchObject({ fire: false });
    expect(latched.episode).toBe(fired.episode);
    expect(stepEpisode(latched.episode, lapsed, T0 + 25_000)).toEqual({ episode: NO_EPISODE, fire: false, clearedAfterMs: 25_000, wakeAtMs: null });
    expect(stepEpisode(started.episode, lapsed, T0 + 5_000)).toMatchObject({ episode: NO_EPISODE, clearedAfterMs: null });
  });

  it('holds a failed hand-over back until its retry time', () => {
    const unlatched = { sinceMs: T0, firing: false, retryAtMs: T0 + 15_000 };
    expect(stepEpisode(unlatched, holds, T0 + 12_000)).toMatchObject({ fire: false, wakeAtMs: T0 + 15_000 });
    expect(stepEpisode(unlatched, holds, T0 + 15_000)).toMatchObject({ fire: true, episode: { firing: true, retryAtMs: null } });
  });
});

describe('quorum: how many hosts a condition must hold on', () => {
  const defaults = () => new Harness(alarmsConfigSchema.parse({}));

  it('by default one crash-looping host of several does not fire; a second one does', () => {
    const h = defaults();
    h.assigned.set('web', 3);
    h.beat('h1', T0, [appReport('web', { processState: 'crash-loop' })]);
    h.beat('h2', T0, [appReport('web')]);
    h.beat('h3', T0, [appReport('web')]);
    expect(h.fired()).toEqual([]);
    h.beat('h2', T0 + 1_000, [appReport('web', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
  });

  it('an app on a single host still alarms on that host', () => {
    const h = defaults();
    h.assigned.set('web', 1);
    h.beat('h1', T0, [appReport('web', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
  });

  it('health needs the quorum as well as the failing share: 1 failing of 2 is 50%, one failing host is not a quorum of 2', () => {
    const h = new Harness(alarmsConfigSchema.parse({ defaults: { health: { failingShare: '40%', for: 0 } } }));
    h.assigned.set('web', 2);
    h.beat('h1', T0, [appReport('web', { health: 'unhealthy' })]);
    h.beat('h2', T0, [appReport('web')]);
    h.tick(T0 + 1);
    expect(h.fired()).toEqual([]);
    h.beat('h2', T0 + 2, [appReport('web', { health: 'unhealthy' })]);
    h.tick(T0 + 3);
    expect(h.fired()).toEqual(['web:health']);
  });

  it('the first host heard after a start does not stand for the fleet: the quorum is of the hosts assigned the app', () => {
    const h = defaults();
    h.assigned.set('web', 3);
    h.beat('h1', T0, [appReport('web', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual([]);
  });

  it('minShare asks for a share of the counted hosts, rounded up', () => {
    const h = new Harness(alarmsConfigSchema.parse({ defaults: { quorum: { minHosts: 1, minShare: '25%' } } }));
    for (let i = 1; i <= 10; i++) h.beat(`h${i}`, T0, [appReport('web')]);
    // 25% of 10 hosts is 2.5: three are needed.
    h.beat('h1', T0 + 1, [appReport('web', { processState: 'crash-loop' })]);
    h.beat('h2', T0 + 1, [appReport('web', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual([]);
    h.beat('h3', T0 + 1, [appReport('web', { processState: 'crash-loop' })]);
    expect(h.fired()).toEqual(['web:crash-loop']);
  });
});
