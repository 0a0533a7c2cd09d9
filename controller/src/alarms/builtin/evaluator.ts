import type { AppStatusReport, LoadFigures } from '@flotilla/shared';
import type { AppAlarmPolicy } from '../config.js';
import { DueTimes } from '../../due-times.js';
import type { Alarm } from '../types.js';
import { earliest, stepEpisode, type ConditionReading, type Episode } from './episode.js';
import { BUILTIN_KINDS, assertNever, builtinSource, type BuiltinAlarmKind } from './kinds.js';
import { AppTracker } from './tracker.js';

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

  /**
   * @param assignedHosts how many hosts are assigned the app (any version), for the quorum; it
   *   may lag a little behind the assignments (it only sets how many hosts must agree).
   */
  constructor(
    private readonly policyFor: (app: string) => AppAlarmPolicy,
    private readonly assignedHosts: (app: string) => number = () => 0,
  ) {}

  apply(event: BuiltinEvent): BuiltinResult {
    const now = Math.max(event.nowMs, this.clockMs);
    this.clockMs = now;
    const touched = new Set<string>();
    switch (event.kind) {
      case 'heartbeat': {
        const { hostId } = event;
        const before = this.appsOfHost.get(hostId);
        // An app is looked at again when a report changed its counts, or when a wake-up of it is
        // due (any report moves time on, as a tick would), or when a host leaves it: a report
        // that repeats the last changes no reading. Most heartbeats of a steady fleet are such.
        for (const report of event.apps) {
          let t = this.apps.get(report.app);
          if (t === undefined) {
            t = new AppTracker(this.appsSeen++);
            this.apps.set(report.app, t);
          }
          const changed = t.report(hostId, report, event.load, this.policyFor(report.app), now);
          if (changed || (t.wakeAtMs !== null && t.wakeAtMs <= now)) touched.add(report.app);
        }
        // Usually the host reports the same apps as last time: nothing left, nothing to store.
        if (before !== undefined && reportsExactly(before, event.apps)) break;
        const reported = new Set(event.apps.map((r) => r.app));
        const left = [...(before ?? [])].filter((app) => !reported.has(app));
        for (const app of this.inOrder(left)) {
          if (this.apps.get(app)?.leave(hostId, this.policyFor(app), now)) touched.add(app);
        }
        if (reported.size > 0) this.appsOfHost.set(hostId, reported);
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
    const required = t.quorum(policy, this.assignedHosts(app));
    const conditions: Record<BuiltinAlarmKind, ConditionReading> = {
      health: t.health(policy, required),
      'crash-loop': t.crashLoop(policy, required),
      resources: t.resources(policy, required),
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


/** Whether `reports` name exactly the apps of `apps` (each once): checked without building a set. */
function reportsExactly(apps: ReadonlySet<string>, reports: readonly AppStatusReport[]): boolean {
  if (apps.size !== reports.length) return false;
  for (let i = 0; i < reports.length; i++) {
    const app = (reports[i] as AppStatusReport).app;
    if (!apps.has(app)) return false;
    // Two reports of one app would leave another of `apps` unnamed: not exactly.
    for (let j = 0; j < i; j++) if ((reports[j] as AppStatusReport).app === app) return false;
  }
  return true;
}

