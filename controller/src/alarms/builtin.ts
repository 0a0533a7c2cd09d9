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
import { DueTimes } from '../due-times.js';
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
  /** The host's load when the sample was taken; current whenever the host is over the limits. */
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
  decisions: BuiltinDecision[];
  /** When to feed the next tick (the earliest wake-up of any app); null: nothing pending. */
  wakeAtMs: number | null;
}

/** One app as the evaluator sees it, for status views and tests (built on demand: O(hosts)). */
export interface AppAlarmSnapshot {
  /** The hosts that report the app (and are up), sorted. */
  readonly hosts: readonly string[];
  /** Hosts running the app: an active version, process not stopped. */
  readonly running: number;
  /** Of those, hosts failing: health `unhealthy`, or the process exited for good. */
  readonly failing: number;
  /** Hosts counting as crash-looping now, sorted. */
  readonly looping: readonly string[];
  /** Hosts running the app over its resource limits (for any time so far), sorted. */
  readonly overLimits: readonly string[];
  readonly episodes: Readonly<Record<BuiltinAlarmKind, Episode>>;
  /** The next time the app's alarms can change without a new report (a duration running out). */
  readonly wakeAtMs: number | null;
}

export const NO_EPISODE: Episode = Object.freeze({ sinceMs: null, firing: false, retryAtMs: null });
const MAX_RESTART_SAMPLES = 64;
const MAX_LISTED_HOSTS = 10;

/** A condition's reading at one moment: what an episode needs to move on. */
export interface ConditionReading {
  readonly holds: boolean;
  /** How long it must hold before the alarm fires. */
  readonly forMs: number;
  /** When the condition can stop or start holding by itself (samples leaving the window, for instance). */
  readonly wakeAtMs: number | null;
}

export interface EpisodeStep {
  readonly episode: Episode;
  /** Raise the alarm now. */
  readonly fire: boolean;
  /** The episode of a raised alarm ended: how long it lasted; null otherwise. */
  readonly clearedAfterMs: number | null;
  readonly wakeAtMs: number | null;
}

/**
 * One alarm kind of one app, moved on by its condition's reading at `now`: fires once per
 * episode after the condition has held for its `forMs` (latched), not before a failed
 * hand-over's retry time, and clears when the condition stops holding. Pure.
 */
export function stepEpisode(e: Episode, c: ConditionReading, now: number): EpisodeStep {
  if (!c.holds) {
    return {
      episode: e.sinceMs === null ? e : NO_EPISODE,
      fire: false,
      clearedAfterMs: e.firing ? now - (e.sinceMs ?? now) : null,
      wakeAtMs: c.wakeAtMs,
    };
  }
  const sinceMs = e.sinceMs ?? now;
  let { firing, retryAtMs } = e;
  let wakeAtMs = c.wakeAtMs;
  let fire = false;
  if (!firing && retryAtMs !== null && now < retryAtMs) {
    wakeAtMs = earliest(wakeAtMs, retryAtMs);
  } else if (!firing && now - sinceMs >= c.forMs) {
    fire = true;
    firing = true;
    retryAtMs = null;
  } else if (!firing) {
    wakeAtMs = earliest(wakeAtMs, sinceMs + c.forMs);
  }
  const same = sinceMs === e.sinceMs && firing === e.firing && retryAtMs === e.retryAtMs;
  return { episode: same ? e : { sinceMs, firing, retryAtMs }, fire, clearedAfterMs: null, wakeAtMs };
}

/**
 * The built-in alarms' decisions, from host events to alarms to raise or clear and the next
 * wake-up. No I/O and no clock of its own: every event carries the controller's time (taken as
 * never going back: an earlier time counts as the latest seen). Conditions are judged on what
 * hosts report:
 * - health: of the hosts running the app (an active version, process not stopped), the share
 *   failing (health `unhealthy`, or the process exited for good) is above `failingShare`,
 *   continuously for `health.forMs`;
 * - crash-loop: a host reports `crash-loop`, or its restart count grew by more than
 *   `crashLoop.restarts` within `crashLoop.windowMs`;
 * - resources: a host running the app has been above `cpuPercent` or `memoryPercent` for
 *   `resources.forMs`.
 * Each fires once per episode (latched) and clears when its condition stops holding.
 *
 * Cost: a heartbeat changes only its own host's share of each app it touches (counters, and the
 * sets of crash-looping and over-limit hosts), so it costs O(apps it reports) whatever the fleet's
 * size; a time running out (a tick) costs O(log hosts) per host it concerns. Only firing lists
 * hosts, O(hosts of the app) once per episode. The state is therefore kept in place, not copied.
 */
export class BuiltinEvaluator {
  private readonly apps = new Map<string, AppTracker>();
  /** The apps each host reports, so that a host leaving touches only those. */
  private readonly appsOfHost = new Map<string, ReadonlySet<string>>();
  /** Each app's next wake-up. */
  private readonly wakes = new DueTimes<string>();
  private clockMs = -Infinity;
  /** Numbers apps in the order they appeared: decisions of several apps come in that order. */
  private appsSeen = 0;

  constructor(private readonly policyFor: (app: string) => AppAlarmPolicy) {}

  apply(event: BuiltinEvent): BuiltinResult {
    const now = Math.max(event.nowMs, this.clockMs);
    this.clockMs = now;
    const touched = new Set<string>();
    switch (event.kind) {
      case 'heartbeat': {
        const { hostId } = event;
        const before = this.appsOfHost.get(hostId);
        for (const report of event.apps) {
          touched.add(report.app);
          let t = this.apps.get(report.app);
          if (t === undefined) {
            t = new AppTracker(this.appsSeen++);
            this.apps.set(report.app, t);
          }
          t.report(hostId, report, event.load, this.policyFor(report.app), now);
        }
        // Usually the host reports the same apps as last time: nothing left, nothing to store.
        if (before !== undefined && sameMembers(before, touched)) break;
        const left = [...(before ?? [])].filter((app) => !touched.has(app));
        for (const app of this.inOrder(left)) {
          if (this.apps.get(app)?.leave(hostId, this.policyFor(app), now)) touched.add(app);
        }
        if (event.apps.length > 0) this.appsOfHost.set(hostId, new Set(event.apps.map((r) => r.app)));
        else this.appsOfHost.delete(hostId);
        break;
      }
      case 'host-down':
        for (const app of this.inOrder([...(this.appsOfHost.get(event.hostId) ?? [])])) {
          if (this.apps.get(app)?.leave(event.hostId, this.policyFor(app), now)) touched.add(app);
        }
        this.appsOfHost.delete(event.hostId);
        break;
      case 'tick':
        // Only an app whose wake-up is due can change without a report.
        for (const app of this.inOrder(this.wakes.takeDue(now))) touched.add(app);
        break;
      case 'raise-failed': {
        const t = this.apps.get(event.app);
        const e = t?.episodes[event.alarm];
        if (t && e?.firing) {
          t.episodes[event.alarm] = { ...e, firing: false, retryAtMs: event.retryAtMs };
          touched.add(event.app);
        }
        break;
      }
      default:
        assertNever(event);
    }
    const decisions: BuiltinDecision[] = [];
    for (const app of touched) this.evaluate(app, now, decisions);
    return { decisions, wakeAtMs: this.wakes.earliest() };
  }

  /** The apps with hosts or an episode under way, sorted. */
  appNames(): string[] {
    return [...this.apps.keys()].sort();
  }

  /** One app's hosts, counters and episodes; undefined when the evaluator knows nothing of it. */
  snapshot(app: string): AppAlarmSnapshot | undefined {
    const t = this.apps.get(app);
    if (t === undefined) return undefined;
    return {
      hosts: [...t.hosts.keys()].sort(),
      running: t.running,
      failing: t.failing,
      looping: [...t.looping].sort(),
      overLimits: [...t.overPending.keys(), ...t.overLasting].sort(),
      episodes: { ...t.episodes },
      wakeAtMs: t.wakeAtMs,
    };
  }

  private inOrder(apps: string[]): string[] {
    return apps.length < 2 ? apps : apps.sort((a, b) => (this.apps.get(a)?.seq ?? 0) - (this.apps.get(b)?.seq ?? 0));
  }

  private evaluate(app: string, now: number, out: BuiltinDecision[]): void {
    const t = this.apps.get(app);
    if (t === undefined) return;
    const policy = this.policyFor(app);
    t.advance(policy, now);
    const conditions: Record<BuiltinAlarmKind, ConditionReading> = {
      health: t.health(policy),
      'crash-loop': t.crashLoop(policy),
      resources: t.resources(policy),
    };
    let wakeAtMs: number | null = null;
    for (const kind of BUILTIN_KINDS) {
      const step = stepEpisode(t.episodes[kind], conditions[kind], now);
      t.episodes[kind] = step.episode;
      wakeAtMs = earliest(wakeAtMs, step.wakeAtMs);
      if (step.fire) {
        const { reason, summary } = t.describe(kind, app, policy, now);
        out.push({
          kind: 'fire',
          type: kind,
          alarm: { app, source: builtinSource(kind), reason, severity: 'critical', receivedAtMs: now, summary },
        });
      } else if (step.clearedAfterMs !== null) {
        out.push({ kind: 'clear', type: kind, app, atMs: now, lastedMs: step.clearedAfterMs });
      }
    }
    t.wakeAtMs = wakeAtMs;
    if (t.hosts.size === 0 && BUILTIN_KINDS.every((k) => t.episodes[k].sinceMs === null)) {
      this.apps.delete(app);
      this.wakes.delete(app);
    } else if (wakeAtMs === null) {
      this.wakes.delete(app);
    } else {
      this.wakes.set(app, wakeAtMs);
    }
  }
}

/**
 * What the evaluator keeps of one app: each host's last sample, and what each host adds to the
 * conditions, changed by the difference one host's report makes.
 */
class AppTracker {
  readonly hosts = new Map<string, HostAppSample>();
  /** Hosts running the app. */
  running = 0;
  /** Hosts running the app and failing. */
  failing = 0;
  /** Hosts counting as crash-looping (crash-loop alarm enabled): reported so, or restarts over the limit. */
  readonly looping = new Set<string>();
  /** Hosts whose restarts grew over the limit, due when the window next slides past one of them. */
  readonly overGrowth = new DueTimes<string>();
  /** Running hosts over the resource limits, due when they have been for the alarm's `for`. */
  readonly overPending = new DueTimes<string>();
  /** Running hosts that have been over the resource limits for the alarm's `for`. */
  readonly overLasting = new Set<string>();
  episodes: Record<BuiltinAlarmKind, Episode> = { health: NO_EPISODE, 'crash-loop': NO_EPISODE, resources: NO_EPISODE };
  wakeAtMs: number | null = null;

  constructor(readonly seq: number) {}

  report(hostId: string, report: AppStatusReport, load: LoadFigures, policy: AppAlarmPolicy, now: number): void {
    const before = this.hosts.get(hostId);
    const after = nextSample(before, report, load, policy, now);
    if (after !== before) this.hosts.set(hostId, after);
    this.recount(hostId, before, after, policy, now);
  }

  /** Forgets a host; false when it did not report the app. */
  leave(hostId: string, policy: AppAlarmPolicy, now: number): boolean {
    const before = this.hosts.get(hostId);
    if (before === undefined) return false;
    this.hosts.delete(hostId);
    this.recount(hostId, before, undefined, policy, now);
    return true;
  }

  /** Moves on what time alone changes: restarts leaving the window, over-limit durations running out. */
  advance(policy: AppAlarmPolicy, now: number): void {
    for (const hostId of this.overGrowth.takeDue(now)) {
      const sample = this.hosts.get(hostId) as HostAppSample;
      const growth = growthOverLimit(sample, policy, now);
      if (growth !== null) this.overGrowth.set(hostId, growth.changesAtMs ?? Infinity);
      this.setLooping(hostId, reportsCrashLoop(sample, policy) || growth !== null);
    }
    for (const hostId of this.overPending.takeDue(now)) this.overLasting.add(hostId);
  }

  health(policy: AppAlarmPolicy): ConditionReading {
    const { enabled, failingShare, forMs } = policy.health;
    return { holds: enabled && this.running > 0 && this.failing / this.running > failingShare, forMs, wakeAtMs: null };
  }

  crashLoop(policy: AppAlarmPolicy): ConditionReading {
    const { enabled } = policy.crashLoop;
    // Growth only shrinks as the window slides past restarts: look again when it next does.
    return { holds: enabled && this.looping.size > 0, forMs: 0, wakeAtMs: enabled ? this.overGrowth.earliest() : null };
  }

  resources(policy: AppAlarmPolicy): ConditionReading {
    const { cpuPercent, memoryPercent: memLimit } = policy.resources;
    const on = cpuPercent !== null || memLimit !== null;
    return { holds: on && this.overLasting.size > 0, forMs: 0, wakeAtMs: on ? this.overPending.earliest() : null };
  }

  /** The alarm's reason and summary: lists hosts, so only built when it fires. */
  describe(kind: BuiltinAlarmKind, app: string, policy: AppAlarmPolicy, now: number): { reason: string; summary: Record<string, unknown> } {
    switch (kind) {
      case 'health': {
        const { failingShare, forMs } = policy.health;
        const failing = this.sortedHosts([...this.hosts.keys()]).filter(([, h]) => isRunning(h) && isFailing(h));
        return {
          reason:
            `health failing on ${this.failing} of ${this.running} hosts running ${app} ` +
            `(${percent(this.failing / this.running)} > ${percent(failingShare)}) for ${formatDuration(forMs)}`,
          summary: {
            failing: this.failing,
            running: this.running,
            failingShare,
            forMs,
            hosts: failing.slice(0, MAX_LISTED_HOSTS).map(([id]) => id),
            versions: distinct(failing.map(([, h]) => h.activeVersion ?? '')),
          },
        };
      }
      case 'crash-loop': {
        const { restarts, windowMs } = policy.crashLoop;
        const looping = this.sortedHosts(this.looping);
        const [firstId, first] = looping[0] as HostEntry;
        const why =
          first.processState === 'crash-loop'
            ? `reports ${app} in crash-loop`
            : `restarted ${app} ${restartGrowth(first.restartSamples, now - windowMs, windowMs).growth} times within ${formatDuration(windowMs)} (limit ${restarts})`;
        return {
          reason: `host ${firstId} ${why}${andMore(looping.length)}`,
          summary: {
            hosts: looping.slice(0, MAX_LISTED_HOSTS).map(([id]) => id),
            looping: looping.length,
            restartsLimit: restarts,
            windowMs,
            versions: distinct(looping.map(([, h]) => h.activeVersion ?? '')),
          },
        };
      }
      case 'resources': {
        const { cpuPercent, memoryPercent: memLimit, forMs } = policy.resources;
        const over = this.sortedHosts(this.overLasting);
        const [hostId, h] = over[0] as HostEntry;
        const figures: string[] = [];
        if (cpuPercent !== null && h.load.cpuPercent > cpuPercent) figures.push(`CPU ${round(h.load.cpuPercent)}% > ${cpuPercent}%`);
        if (memLimit !== null && memoryPercent(h.load) > memLimit) figures.push(`memory ${round(memoryPercent(h.load))}% > ${memLimit}%`);
        return {
          reason: `host ${hostId} running ${app} is over its limits for ${formatDuration(forMs)}: ${figures.join(', ')}${andMore(over.length)}`,
          summary: {
            hosts: over.slice(0, MAX_LISTED_HOSTS).map(([id]) => id),
            cpuPercentLimit: cpuPercent,
            memoryPercentLimit: memLimit,
            forMs,
            versions: distinct(over.map(([, x]) => x.activeVersion ?? '')),
          },
        };
      }
      default:
        return assertNever(kind);
    }
  }

  /** Applies the difference one host's change makes; `after` undefined: the host left. */
  private recount(hostId: string, before: HostAppSample | undefined, after: HostAppSample | undefined, policy: AppAlarmPolicy, now: number): void {
    if (before !== undefined && isRunning(before)) {
      this.running--;
      if (isFailing(before)) this.failing--;
    }
    if (after !== undefined && isRunning(after)) {
      this.running++;
      if (isFailing(after)) this.failing++;
    }

    const growth = after === undefined ? null : growthOverLimit(after, policy, now);
    if (growth === null) this.overGrowth.delete(hostId);
    else this.overGrowth.set(hostId, growth.changesAtMs ?? Infinity);
    this.setLooping(hostId, after !== undefined && (reportsCrashLoop(after, policy) || growth !== null));

    const wasOver = before === undefined ? null : overLimitSince(before);
    const isOver = after === undefined ? null : overLimitSince(after);
    if (wasOver !== isOver) {
      this.overPending.delete(hostId);
      this.overLasting.delete(hostId);
      if (isOver !== null) this.overPending.set(hostId, isOver + policy.resources.forMs);
    }
  }

  private setLooping(hostId: string, looping: boolean): void {
    if (looping) this.looping.add(hostId);
    else this.looping.delete(hostId);
  }

  private sortedHosts(ids: Iterable<string>): HostEntry[] {
    return [...ids].sort().map((id) => [id, this.hosts.get(id) as HostAppSample]);
  }
}

type HostEntry = [string, HostAppSample];

function nextSample(
  previous: HostAppSample | undefined,
  report: AppStatusReport,
  load: LoadFigures,
  policy: AppAlarmPolicy,
  now: number,
): HostAppSample {
  let samples: readonly RestartSample[];
  const last = previous?.restartSamples[previous.restartSamples.length - 1];
  if (!previous || !last || previous.activeVersion !== report.activeVersion || report.restarts < last.restarts) {
    samples = [{ atMs: now, restarts: report.restarts }];
  } else if (report.restarts !== last.restarts) {
    samples = [...previous.restartSamples, { atMs: now, restarts: report.restarts }];
  } else {
    samples = previous.restartSamples;
  }
  samples = pruneSamples(samples, now - policy.crashLoop.windowMs);
  const over = overLimit(load, policy);
  // Most heartbeats repeat the last one: keep the sample rather than hold on to a fresh copy per
  // host per second (each would outlive the young generation). Its `load` is then an older one,
  // which is never read: only hosts over the limits have theirs read, and those get a new sample.
  if (
    previous !== undefined &&
    !over &&
    previous.overLimitSinceMs === null &&
    samples === previous.restartSamples &&
    previous.activeVersion === report.activeVersion &&
    previous.processState === report.processState &&
    previous.health === report.health &&
    previous.restarts === report.restarts
  ) {
    return previous;
  }
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

/**
 * Keeps the samples inside the window and the last one before it (the baseline). Returns the
 * array it was given when nothing goes (samples are never changed in place, so it may be shared).
 */
function pruneSamples(samples: readonly RestartSample[], cutMs: number): readonly RestartSample[] {
  // Most hosts never restart: their one sample is the baseline, whatever its age.
  if (samples.length < 2) return samples;
  let firstInside = 0;
  while (firstInside < samples.length && (samples[firstInside] as RestartSample).atMs <= cutMs) firstInside++;
  const from = Math.max(0, firstInside - 1, samples.length - MAX_RESTART_SAMPLES);
  return from === 0 ? samples : samples.slice(from);
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

/** When a host's restarts count against the crash-loop limit now: when that can next change; else null. */
function growthOverLimit(s: HostAppSample, policy: AppAlarmPolicy, now: number): { changesAtMs: number | null } | null {
  const { enabled, restarts, windowMs } = policy.crashLoop;
  if (!enabled || s.activeVersion === null) return null;
  const { growth, changesAtMs } = restartGrowth(s.restartSamples, now - windowMs, windowMs);
  return growth > restarts ? { changesAtMs } : null;
}

function reportsCrashLoop(s: HostAppSample, policy: AppAlarmPolicy): boolean {
  return policy.crashLoop.enabled && s.activeVersion !== null && s.processState === 'crash-loop';
}

/** Since when a host running the app has been over its limits; null when it is not (or not running it). */
function overLimitSince(s: HostAppSample): number | null {
  return isRunning(s) ? s.overLimitSinceMs : null;
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

function sameMembers(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function andMore(listed: number): string {
  return listed > 1 ? ` (and ${listed - 1} more host${listed > 2 ? 's' : ''})` : '';
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
    this.evaluator = new BuiltinEvaluator(this.policyFor);
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
      this.apply({ kind: 'heartbeat', hostId: event.hostId, load: event.heartbeat.load, apps: event.heartbeat.apps, nowMs });
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
        this.logger.error({ app: alarm.app, source: alarm.source, err: errorMessage(err) }, 'alarm could not be handed over');
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
