import type { AppStatusReport, LoadFigures, Logger } from '@flotilla/shared';
import { alarmPolicyFor, type AlarmsConfig, type AppAlarmPolicy } from '../config.js';
import type { AlarmMetrics } from '../metrics.js';
import type { Alarm, AlarmSink } from '../types.js';
import { countedReports, type AssignedVersions } from './counted.js';
import { BuiltinEvaluator, type AppAlarmSnapshot, type BuiltinEvent } from './evaluator.js';
import { builtinSource, type BuiltinAlarmKind } from './kinds.js';

// The stateful side: feeds the evaluator from the host registry and hands alarms to the sink.

/**
 * The host events the built-in alarms listen to: the controller's HostRegistry fits this as is
 * (`new BuiltinAlarms({ feed: hostRegistry, ... })`), without this module depending on it.
 */
export type HostFeedEvent =
  | { readonly type: 'announce'; readonly hostId: string }
  | {
      readonly type: 'heartbeat';
      readonly hostId: string;
      readonly heartbeat: { readonly load: LoadFigures; readonly apps: readonly AppStatusReport[] };
    }
  | { readonly type: 'state'; readonly hostId: string; readonly state: 'up' | 'down' };

export interface HostFeed {
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: HostFeedEvent) => void): () => void;
}

export interface BuiltinAlarmsOptions {
  feed: HostFeed;
  /** Which version of each app each host is assigned: only hosts running that version count. */
  assignments: AssignedVersions;
  sink: AlarmSink;
  config: AlarmsConfig;
  logger: Logger;
  metrics?: AlarmMetrics;
  /** @default Date.now */
  now?: () => number;
  /** How long after a failed hand-over the alarm is tried again. @default 5000 */
  retryMs?: number;
}

/**
 * Runs the built-in alarms: every host event goes through a `BuiltinEvaluator`, each alarm it
 * fires goes to the sink once (again only if the sink failed), and a single timer wakes the
 * evaluator when a duration runs out.
 */
export class BuiltinAlarms {
  private readonly evaluator: BuiltinEvaluator;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires; null when none is armed. */
  private timerAtMs: number | null = null;
  private wakeAtMs: number | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly retryMs: number;
  private readonly policyFor: (app: string) => AppAlarmPolicy;

  constructor(private readonly opts: BuiltinAlarmsOptions) {
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger.child({ component: 'builtin-alarms' });
    this.retryMs = opts.retryMs ?? 5000;
    this.policyFor = (app) => alarmPolicyFor(opts.config, app);
    this.evaluator = new BuiltinEvaluator(this.policyFor, (app) => opts.assignments.hostsAssigned(app));
  }

  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.opts.feed.subscribe((event) => this.onHostEvent(event));
  }

  /** Stops listening and waits for hand-overs in flight. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.disarm();
    await this.idle();
  }

  /** Tells the evaluator the time: apps whose wake-up is due are looked at again. The timer calls it, tests may too. */
  tick(): void {
    this.apply({ kind: 'tick', nowMs: this.now() });
  }

  /** Resolves when every hand-over started so far has settled. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Every app the evaluator knows, by name (built on demand, O(hosts): for status views and tests). */
  snapshot(): { apps: Record<string, AppAlarmSnapshot> } {
    const apps: Record<string, AppAlarmSnapshot> = {};
    for (const app of this.evaluator.appNames()) apps[app] = this.evaluator.snapshot(app) as AppAlarmSnapshot;
    return { apps };
  }

  private onHostEvent(event: HostFeedEvent): void {
    const nowMs = this.now();
    if (event.type === 'heartbeat') {
      const { counted, ignored } = countedReports(event.hostId, event.heartbeat.apps, this.opts.assignments);
      for (const { reason } of ignored) this.opts.metrics?.ignoredReports.inc({ reason });
      if (ignored.length > 0) {
        // Debug, not warn: every host mid-rollout reports the version it is leaving for a while.
        this.logger.debug({ hostId: event.hostId, ignored }, 'app reports that do not count for alarms');
      }
      this.apply({ kind: 'heartbeat', hostId: event.hostId, load: event.heartbeat.load, apps: counted, nowMs });
    } else if (event.type === 'state' && event.state === 'down') {
      this.apply({ kind: 'host-down', hostId: event.hostId, nowMs });
    }
  }

  private apply(event: BuiltinEvent): void {
    const result = this.evaluator.apply(event);
    this.wakeAtMs = result.wakeAtMs;
    for (const d of result.decisions) {
      if (d.kind === 'fire') {
        this.hand(d.type, d.alarm);
      } else {
        this.opts.metrics?.cleared.inc({ source: builtinSource(d.type) });
        this.logger.info({ app: d.app, source: builtinSource(d.type), lastedMs: d.lastedMs }, 'built-in alarm cleared');
      }
    }
    this.arm();
  }

  private hand(kind: BuiltinAlarmKind, alarm: Alarm): void {
    this.logger.warn({ app: alarm.app, source: alarm.source, reason: alarm.reason }, 'built-in alarm fired');
    const p = this.opts.sink
      .raise(alarm)
      .then((outcome) => {
        this.opts.metrics?.raised.inc({ source: alarm.source, outcome: outcome.action });
        this.logger.info({ app: alarm.app, source: alarm.source, action: outcome.action, rolloutId: outcome.rolloutId }, 'alarm handed over');
      })
      .catch((err: unknown) => {
        this.opts.metrics?.raised.inc({ source: alarm.source, outcome: 'error' });
        this.logger.error({ app: alarm.app, source: alarm.source, err }, 'alarm could not be handed over');
        if (!this.unsubscribe) return;
        const nowMs = this.now();
        this.apply({ kind: 'raise-failed', app: alarm.app, alarm: kind, retryAtMs: nowMs + this.retryMs, nowMs });
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** One timer, for the evaluator's next wake-up; left alone when that has not moved (most heartbeats). */
  private arm(): void {
    if (!this.unsubscribe) return;
    const at = this.wakeAtMs;
    if (at === this.timerAtMs && (at === null || this.timer !== undefined)) return;
    this.disarm();
    if (at === null) return;
    this.timerAtMs = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAtMs = null;
      this.tick();
    }, Math.max(0, at - this.now()));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = null;
  }
}

