import {
  errorMessage,
  formatDuration,
  type AppStatusReport,
  type HealthState,
  type LoadFigures,
  type Logger,
  type ProcessState,
} from '@flotilla/shared';
import { alarmPolicyFor, type AlarmsConfig, type AppAlarmPolicy } from './config.js';
import type { AlarmMetrics } from './metrics.js';
import type { Alarm, AlarmSink } from './types.js';

/** The built-in alarms, each latched separately per app. */
export type BuiltinAlarmKind =
  /** More than a share of the hosts running the app fail their health check, for a while. */
  | 'health'
  /** A host reports the app crash-looping, or its restarts grow too fast. */
  | 'crash-loop'
  /** A host running the app is over a CPU or memory limit, for a while. */
  | 'resources';

export const BUILTIN_KINDS: readonly BuiltinAlarmKind[] = ['health', 'crash-loop', 'resources'];

/** The alarm `source` of each kind. */
export function builtinSource(kind: BuiltinAlarmKind): string {
  return `builtin:${kind}`;
}

/** A change of restart count, as first seen by the controller. */
export interface RestartSample {
  readonly atMs: number;
  readonly restarts: number;
}

/** What one host last said about one app, as far as alarms care. */
export interface HostAppSample {
  readonly activeVersion: string | null;
  readonly processState: ProcessState;
  readonly health: HealthState;
  readonly restarts: number;
  /**
   * Changes of the restart count inside the crash-loop window, plus the last one before it (the
   * baseline). Starts afresh when the active version changes or the count drops (a new activation).
   */
  readonly restartSamples: readonly RestartSample[];
  readonly load: LoadFigures;
  /** Since when the host has been over the app's resource limits; null when it is not. */
  readonly overLimitSinceMs: number | null;
}

/** One alarm kind of one app: an episode starts when its condition holds and ends when it stops. */
export interface Episode {
  /** Since when the condition has held; null when it does not. */
  readonly sinceMs: number | null;
  /** The alarm was raised for this episode (latched until the condition clears). */
  readonly firing: boolean;
  /** After a failed hand-over: not raised again before this time. */
  readonly retryAtMs: number | null;
}

export interface AppAlarmState {
  /** The hosts that report the app (and are up), by host id. */
  readonly hosts: Readonly<Record<string, HostAppSample>>;
  readonly episodes: Readonly<Record<BuiltinAlarmKind, Episode>>;
  /** The next time the app's alarms can change without a new report (a duration running out). */
  readonly wakeAtMs: number | null;
}

/** The evaluator's whole state: plain data, replaced (never changed in place) by each event. */
export interface BuiltinState {
  readonly apps: Readonly<Record<string, AppAlarmState>>;
}

export const EMPTY_BUILTIN_STATE: BuiltinState = Object.freeze({ apps: Object.freeze({}) });

export type BuiltinEvent =
  /** A heartbeat: the host's load and every app it reports (apps missing from it left the host). */
  | { kind: 'heartbeat'; hostId: string; load: LoadFigures; apps: readonly AppStatusReport[]; nowMs: number }
  /** The host was marked down: its reports no longer count. */
  | { kind: 'host-down'; hostId: string; nowMs: number }
  /** Time passed (a duration may have run out). */
  | { kind: 'tick'; nowMs: number }
  /** Handing an alarm over failed: unlatch it, to be raised again from `retryAtMs` if it still holds. */
  | { kind: 'raise-failed'; app: string; alarm: BuiltinAlarmKind; retryAtMs: number; nowMs: number };

export type BuiltinDecision =
  | { kind: 'fire'; type: BuiltinAlarmKind; alarm: Alarm }
  | { kind: 'clear'; type: BuiltinAlarmKind; app: string; atMs: number; lastedMs: number };

export interface BuiltinResult {
  state: BuiltinState;
  decisions: BuiltinDecision[];
  /** When to feed the next tick (the earliest wake-up of any app); null: nothing pending. */
  wakeAtMs: number | null;
}

const NO_EPISODE: Episode = Object.freeze({ sinceMs: null, firing: false, retryAtMs: null });
const NO_EPISODES: Readonly<Record<BuiltinAlarmKind, Episode>> = Object.freeze({
  health: NO_EPISODE,
  'crash-loop': NO_EPISODE,
  resources: NO_EPISODE,
});
const MAX_RESTART_SAMPLES = 64;
const MAX_LISTED_HOSTS = 10;

/**
 * The built-in alarms' decisions: a pure function of (state, event, each app's policy) to (new
 * state, alarms to raise or clear, next wake-up). No I/O and no clock of its own: every event
 * carries the controller's time. Conditions are judged on what hosts report:
 * - health: of the hosts running the app (an active version, process not stopped), the share
 *   failing (health `unhealthy`, or the process exited for good) is above `failingShare`,
 *   continuously for `health.forMs`;
 * - crash-loop: a host reports `crash-loop`, or its restart count grew by more than
 *   `crashLoop.restarts` within `crashLoop.windowMs`;
 * - resources: a host running the app has been above `cpuPercent` or `memoryPercent` for
 *   `resources.forMs`.
 * Each fires once per episode (latched) and clears when its condition stops holding.
 */
export function evaluateBuiltin(
  state: BuiltinState,
  event: BuiltinEvent,
  policyFor: (app: string) => AppAlarmPolicy,
): BuiltinResult {
  const now = event.nowMs;
  const apps: Record<string, AppAlarmState> = { ...state.apps };
  const touched = new Set<string>();

  switch (event.kind) {
    case 'heartbeat': {
      const reported = new Set<string>();
      for (const report of event.apps) {
        reported.add(report.app);
        const current = own(apps, report.app) ?? { hosts: {}, episodes: NO_EPISODES, wakeAtMs: null };
        const previous = own(current.hosts, event.hostId);
        const sample = nextSample(previous, report, event.load, policyFor(report.app), now);
        apps[report.app] = { ...current, hosts: { ...current.hosts, [event.hostId]: sample } };
        touched.add(report.app);
      }
      for (const [app, s] of Object.entries(apps)) {
        if (!reported.has(app) && Object.hasOwn(s.hosts, event.hostId)) {
          apps[app] = { ...s, hosts: without(s.hosts, event.hostId) };
          touched.add(app);
        }
      }
      break;
    }
    case 'host-down':
      for (const [app, s] of Object.entries(apps)) {
        if (Object.hasOwn(s.hosts, event.hostId)) {
          apps[app] = { ...s, hosts: without(s.hosts, event.hostId) };
          touched.add(app);
        }
      }
      break;
    case 'tick':
      for (const app of Object.keys(apps)) touched.add(app);
      break;
    case 'raise-failed': {
      const s = own(apps, event.app);
      if (s && s.episodes[event.alarm].firing) {
        const episode: Episode = { ...s.episodes[event.alarm], firing: false, retryAtMs: event.retryAtMs };
        apps[event.app] = { ...s, episodes: { ...s.episodes, [event.alarm]: episode } };
        touched.add(event.app);
      }
      break;
    }
    default:
      assertNever(event);
  }

  const decisions: BuiltinDecision[] = [];
  for (const app of touched) {
    const s = apps[app] as AppAlarmState;
    const next = evaluateApp(app, s, policyFor(app), now, decisions);
    if (Object.keys(next.hosts).length === 0 && !BUILTIN_KINDS.some((k) => next.episodes[k].sinceMs !== null)) {
      delete apps[app];
    } else {
      apps[app] = next;
    }
  }
  let wakeAtMs: number | null = null;
  for (const s of Object.values(apps)) wakeAtMs = earliest(wakeAtMs, s.wakeAtMs);
  return { state: touched.size === 0 ? state : { apps }, decisions, wakeAtMs };
}

function nextSample(
  previous: HostAppSample | undefined,
  report: AppStatusReport,
  load: LoadFigures,
  policy: AppAlarmPolicy,
  now: number,
): HostAppSample {
  let samples: RestartSample[];
  const last = previous?.restartSamples[previous.restartSamples.length - 1];
  if (!previous || !last || previous.activeVersion !== report.activeVersion || report.restarts < last.restarts) {
    samples = [{ atMs: now, restarts: report.restarts }];
  } else if (report.restarts !== last.restarts) {
    samples = [...previous.restartSamples, { atMs: now, restarts: report.restarts }];
  } else {
    samples = [...previous.restartSamples];
  }
  samples = pruneSamples(samples, now - policy.crashLoop.windowMs);
  const over = overLimit(load, policy);
  return {
    activeVersion: report.activeVersion,
    processState: report.processState,
    health: report.health,
    restarts: report.restarts,
    restartSamples: samples,
    load,
    overLimitSinceMs: over ? (previous?.overLimitSinceMs ?? now) : null,
  };
}

/** Keeps the samples inside the window and the last one before it (the baseline). */
function pruneSamples(samples: RestartSample[], cutMs: number): RestartSample[] {
  let firstInside = samples.findIndex((s) => s.atMs > cutMs);
  if (firstInside === -1) firstInside = samples.length;
  const kept = samples.slice(Math.max(0, firstInside - 1));
  return kept.length > MAX_RESTART_SAMPLES ? kept.slice(-MAX_RESTART_SAMPLES) : kept;
}

/**
 * Restarts within the window: the latest count less the count when the window began (the last
 * sample at or before its start, or the first sample when the host was first seen inside it).
 * Also when that baseline moves next, which is when the growth can next shrink.
 */
function restartGrowth(samples: readonly RestartSample[], cutMs: number, windowMs: number): { growth: number; changesAtMs: number | null } {
  if (samples.length === 0) return { growth: 0, changesAtMs: null };
  let base = 0;
  samples.forEach((s, i) => {
    if (s.atMs <= cutMs) base = i;
  });
  const next = samples[base + 1];
  return {
    growth: (samples[samples.length - 1] as RestartSample).restarts - (samples[base] as RestartSample).restarts,
    changesAtMs: next ? next.atMs + windowMs : null,
  };
}

function memoryPercent(load: LoadFigures): number {
  return load.memTotalBytes > 0 ? (load.memUsedBytes / load.memTotalBytes) * 100 : 0;
}

function overLimit(load: LoadFigures, policy: AppAlarmPolicy): boolean {
  const { cpuPercent, memoryPercent: memLimit } = policy.resources;
  return (cpuPercent !== null && load.cpuPercent > cpuPercent) || (memLimit !== null && memoryPercent(load) > memLimit);
}

function isRunning(s: HostAppSample): boolean {
  return s.activeVersion !== null && s.processState !== 'stopped';
}

function isFailing(s: HostAppSample): boolean {
  return s.health === 'unhealthy' || s.processState === 'exited';
}

interface Condition {
  holds: boolean;
  /** How long it must hold before the alarm fires. */
  forMs: number;
  /** When the condition can stop holding by itself (samples leaving the window, for instance). */
  wakeAtMs: number | null;
  /** Builds the alarm, called only when it fires. */
  alarm: () => { reason: string; summary: Record<string, unknown> };
}

function evaluateApp(app: string, s: AppAlarmState, policy: AppAlarmPolicy, now: number, out: BuiltinDecision[]): AppAlarmState {
  const hosts = Object.entries(s.hosts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const conditions: Record<BuiltinAlarmKind, Condition> = {
    health: healthCondition(app, hosts, policy),
    'crash-loop': crashLoopCondition(app, hosts, policy, now),
    resources: resourceCondition(app, hosts, policy, now),
  };
  const episodes: Record<BuiltinAlarmKind, Episode> = { ...s.episodes };
  let wakeAtMs: number | null = null;
  for (const kind of BUILTIN_KINDS) {
    const c = conditions[kind];
    const e = s.episodes[kind];
    wakeAtMs = earliest(wakeAtMs, c.wakeAtMs);
    if (!c.holds) {
      if (e.firing) out.push({ kind: 'clear', type: kind, app, atMs: now, lastedMs: now - (e.sinceMs ?? now) });
      if (e.sinceMs !== null) episodes[kind] = NO_EPISODE;
      continue;
    }
    const sinceMs = e.sinceMs ?? now;
    let firing = e.firing;
    let retryAtMs = e.retryAtMs;
    if (!firing && retryAtMs !== null && now < retryAtMs) {
      wakeAtMs = earliest(wakeAtMs, retryAtMs);
    } else if (!firing && now - sinceMs >= c.forMs) {
      const { reason, summary } = c.alarm();
      out.push({
        kind: 'fire',
        type: kind,
        alarm: { app, source: builtinSource(kind), reason, severity: 'critical', receivedAtMs: now, summary },
      });
      firing = true;
      retryAtMs = null;
    } else if (!firing) {
      wakeAtMs = earliest(wakeAtMs, sinceMs + c.forMs);
    }
    if (sinceMs !== e.sinceMs || firing !== e.firing || retryAtMs !== e.retryAtMs) episodes[kind] = { sinceMs, firing, retryAtMs };
  }
  return { hosts: s.hosts, episodes, wakeAtMs };
}

type HostEntry = [string, HostAppSample];

function healthCondition(app: string, hosts: readonly HostEntry[], policy: AppAlarmPolicy): Condition {
  const { enabled, failingShare, forMs } = policy.health;
  const running = hosts.filter(([, h]) => isRunning(h));
  const failing = running.filter(([, h]) => isFailing(h));
  const holds = enabled && running.length > 0 && failing.length / running.length > failingShare;
  return {
    holds,
    forMs,
    wakeAtMs: null,
    alarm: () => ({
      reason:
        `health failing on ${failing.length} of ${running.length} hosts running ${app} ` +
        `(${percent(failing.length / running.length)} > ${percent(failingShare)}) for ${formatDuration(forMs)}`,
      summary: {
        failing: failing.length,
        running: running.length,
        failingShare,
        forMs,
        hosts: failing.slice(0, MAX_LISTED_HOSTS).map(([id]) => id),
        versions: distinct(failing.map(([, h]) => h.activeVersion ?? '')),
      },
    }),
  };
}

function crashLoopCondition(app: string, hosts: readonly HostEntry[], policy: AppAlarmPolicy, now: number): Condition {
  const { enabled, restarts, windowMs } = policy.crashLoop;
  const cutMs = now - windowMs;
  const looping: Array<{ hostId: string; version: string | null; state: ProcessState; growth: number }> = [];
  let wakeAtMs: number | null = null;
  if (enabled) {
    for (const [hostId, h] of hosts) {
      if (h.activeVersion === null) continue;
      const { growth, changesAtMs } = restartGrowth(h.restartSamples, cutMs, windowMs);
      const byGrowth = growth > restarts;
      if (h.processState === 'crash-loop' || byGrowth) looping.push({ hostId, version: h.activeVersion, state: h.processState, growth });
      // Growth only shrinks as the window slides past restarts: look again when it next does.
      if (byGrowth) wakeAtMs = earliest(wakeAtMs, changesAtMs);
    }
  }
  return {
    holds: looping.length > 0,
    forMs: 0,
    wakeAtMs,
    alarm: () => {
      const first = looping[0] as (typeof looping)[number];
      const why =
        first.state === 'crash-loop'
          ? `reports ${app} in crash-loop`
          : `restarted ${app} ${first.growth} times within ${formatDuration(windowMs)} (limit ${restarts})`;
      const more = looping.length > 1 ? ` (and ${looping.length - 1} more host${looping.length > 2 ? 's' : ''})` : '';
      return {
        reason: `host ${first.hostId} ${why}${more}`,
        summary: {
          hosts: looping.slice(0, MAX_LISTED_HOSTS).map((l) => l.hostId),
          looping: looping.length,
          restartsLimit: restarts,
          windowMs,
          versions: distinct(looping.map((l) => l.version ?? '')),
        },
      };
    },
  };
}

function resourceCondition(app: string, hosts: readonly HostEntry[], policy: AppAlarmPolicy, now: number): Condition {
  const { cpuPercent, memoryPercent: memLimit, forMs } = policy.resources;
  const over: Array<[string, HostAppSample]> = [];
  let wakeAtMs: number | null = null;
  if (cpuPercent !== null || memLimit !== null) {
    for (const entry of hosts) {
      const h = entry[1];
      if (!isRunning(h) || h.overLimitSinceMs === null) continue;
      if (now - h.overLimitSinceMs >= forMs) over.push(entry);
      else wakeAtMs = earliest(wakeAtMs, h.overLimitSinceMs + forMs);
    }
  }
  return {
    holds: over.length > 0,
    forMs: 0,
    wakeAtMs,
    alarm: () => {
      const [hostId, h] = over[0] as HostEntry;
      const figures: string[] = [];
      if (cpuPercent !== null && h.load.cpuPercent > cpuPercent) figures.push(`CPU ${round(h.load.cpuPercent)}% > ${cpuPercent}%`);
      if (memLimit !== null && memoryPercent(h.load) > memLimit) figures.push(`memory ${round(memoryPercent(h.load))}% > ${memLimit}%`);
      const more = over.length > 1 ? ` (and ${over.length - 1} more host${over.length > 2 ? 's' : ''})` : '';
      return {
        reason: `host ${hostId} running ${app} is over its limits for ${formatDuration(forMs)}: ${figures.join(', ')}${more}`,
        summary: {
          hosts: over.slice(0, MAX_LISTED_HOSTS).map(([id]) => id),
          cpuPercentLimit: cpuPercent,
          memoryPercentLimit: memLimit,
          forMs,
          versions: distinct(over.map(([, x]) => x.activeVersion ?? '')),
        },
      };
    },
  };
}

/** Own entries only: app and host names such as `constructor` must not find Object's members. */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function without<T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> {
  const copy = { ...record };
  delete copy[key];
  return copy;
}

function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function percent(share: number): string {
  return `${round(share * 100)}%`;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function distinct(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v !== ''))].slice(0, MAX_LISTED_HOSTS);
}

function assertNever(x: never): never {
  throw new Error(`unexpected built-in alarm event ${JSON.stringify(x)}`);
}

// ---------------------------------------------------------------------------------------------
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
 * Runs the built-in alarms: every host event goes through `evaluateBuiltin`, each alarm it
 * fires goes to the sink once (again only if the sink failed), and a single timer wakes the
 * evaluator when a duration runs out.
 */
export class BuiltinAlarms {
  private state: BuiltinState = EMPTY_BUILTIN_STATE;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
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
  }

  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.opts.feed.subscribe((event) => this.onHostEvent(event));
  }

  /** Stops listening and waits for hand-overs in flight. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  /** Re-evaluates every app now; the timer calls it, tests may too. */
  tick(): void {
    this.apply({ kind: 'tick', nowMs: this.now() });
  }

  /** Resolves when every hand-over started so far has settled. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** The evaluator's current state (read-only; for status views and tests). */
  snapshot(): BuiltinState {
    return this.state;
  }

  private onHostEvent(event: HostFeedEvent): void {
    const nowMs = this.now();
    if (event.type === 'heartbeat') {
      this.apply({ kind: 'heartbeat', hostId: event.hostId, load: event.heartbeat.load, apps: event.heartbeat.apps, nowMs });
    } else if (event.type === 'state' && event.state === 'down') {
      this.apply({ kind: 'host-down', hostId: event.hostId, nowMs });
    }
  }

  private apply(event: BuiltinEvent): void {
    const result = evaluateBuiltin(this.state, event, this.policyFor);
    this.state = result.state;
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
        this.logger.error({ app: alarm.app, source: alarm.source, err: errorMessage(err) }, 'alarm could not be handed over');
        if (!this.unsubscribe) return;
        const nowMs = this.now();
        this.apply({ kind: 'raise-failed', app: alarm.app, alarm: kind, retryAtMs: nowMs + this.retryMs, nowMs });
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** One timer, for the evaluator's next wake-up. */
  private arm(): void {
    if (!this.unsubscribe) return;
    const now = this.now();
    const at = this.wakeAtMs;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (at === null) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tick();
    }, Math.max(0, at - now));
    this.timer.unref();
  }
}
