import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, type AppStatusReport } from '@flotilla/shared';
import { Registry } from 'prom-client';
import { alarmsConfigSchema } from '../config.js';
import { AlarmMetrics } from '../metrics.js';
import { IDLE_LOAD, MemoryAlarmSink, appReport } from '../testing.js';
import { BuiltinAlarms, type HostFeedEvent } from './driver.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const T0 = 1_700_000_000_000;
/** One host is enough to fire here: the quorum has its own tests in evaluator.test.ts. */
const config = alarmsConfigSchema.parse({ defaults: { quorum: { minHosts: 1 } } });
/** Every host is assigned web 2.0.0, the version appReport reports. */
const assignments = { assignedVersion: (_hostId: string, app: string) => (app === 'web' ? '2.0.0' : undefined), hostsAssigned: () => 0 };

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
      config,
      assignments,
      logger,
      now: () => now,
      retryMs: 5_000,
    });
    const beat = (hostId: string, apps: AppStatusReport[]) =>
      feed.emit({ type: 'heartbeat', hostId, heartbeat: { load: IDLE_LOAD, apps } });
    return { feed, sink, alarms, beat, advance: (ms: number) => (now += ms) };
  }

  it('hands each episode to the sink once, from host registry events', async () => {
    const { feed, sink, alarms, beat, advance } = setup();
    alarms.start();
    beat('h1', [appReport('web', { health: 'unhealthy' })]);
    feed.emit({ type: 'announce', hostId: 'h2' });
    advance(10_000);
    beat('h1', [appReport('web', { health: 'unhealthy' })]);
    beat('h1', [appReport('web', { health: 'unhealthy' })]);
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
    beat('h1', [appReport('web', { processState: 'crash-loop' })]);
    await alarms.idle();
    expect(sink.raised).toHaveLength(0);
    sink.failing = false;
    advance(1_000);
    beat('h1', [appReport('web', { processState: 'crash-loop' })]);
    await alarms.idle();
    expect(sink.raised).toHaveLength(0);
    advance(4_000);
    alarms.tick();
    await alarms.idle();
    expect(sink.raised.map((a) => a.source)).toEqual(['builtin:crash-loop']);
    await alarms.stop();
  });

  it('ignores reports of apps or versions a host is not assigned, and counts them in a metric', async () => {
    const registry = new Registry();
    const metrics = new AlarmMetrics(registry);
    const feed = new FakeFeed();
    const sink = new MemoryAlarmSink(['web', 'db']);
    const alarms = new BuiltinAlarms({ feed, sink, config, assignments, logger, metrics });
    alarms.start();
    const beat = (hostId: string, apps: AppStatusReport[]) => feed.emit({ type: 'heartbeat', hostId, heartbeat: { load: IDLE_LOAD, apps } });
    // db is assigned to nobody; web 1.0.0 is not the version assigned.
    beat('h1', [appReport('db', { processState: 'crash-loop' }), appReport('web', { activeVersion: '1.0.0', processState: 'crash-loop' })]);
    await alarms.idle();
    expect(sink.raised).toEqual([]);
    expect(alarms.snapshot().apps).toEqual({});
    const counts = (await metrics.ignoredReports.get()).values.map((v) => [v.labels.reason, v.value]);
    expect(counts.sort()).toEqual([['not-assigned', 1], ['other-version', 1]]);
    // The same host reporting the version it is assigned counts as before.
    beat('h1', [appReport('web', { processState: 'crash-loop' })]);
    await alarms.idle();
    expect(sink.raised.map((a) => `${a.app}:${a.source}`)).toEqual(['web:builtin:crash-loop']);
    await alarms.stop();
  });

  describe('on its own timer', () => {
    afterEach(() => {
      vi.restoreAllMocks();
      vi.useRealTimers();
    });

    it('wakes when a duration runs out, and is not re-armed by heartbeats that do not move the wake-up', async () => {
      vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      const armed = vi.spyOn(globalThis, 'setTimeout');
      const feed = new FakeFeed();
      const sink = new MemoryAlarmSink(['web']);
      const alarms = new BuiltinAlarms({ feed, sink, config,
      assignments, logger });
      alarms.start();
      const beatAll = () => {
        for (const [hostId, health] of [['h1', 'unhealthy'], ['h2', 'unhealthy'], ['h3', 'healthy']] as const) {
          feed.emit({ type: 'heartbeat', hostId, heartbeat: { load: IDLE_LOAD, apps: [appReport('web', { health })] } });
        }
      };
      beatAll();
      expect(armed).toHaveBeenCalledTimes(1);
      for (let i = 0; i < 9; i++) {
        vi.advanceTimersByTime(1_000);
        beatAll();
      }
      expect(armed).toHaveBeenCalledTimes(1);
      expect(sink.raised).toEqual([]);

      vi.advanceTimersByTime(1_000);
      await alarms.idle();
      expect(sink.raised).toMatchObject([{ app: 'web', source: 'builtin:health', receivedAtMs: T0 + 10_000 }]);
      await alarms.stop();
    });
  });
});
