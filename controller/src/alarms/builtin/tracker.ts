import { formatDuration, type AppStatusReport, type LoadFigures } from '@flotilla/shared';
import type { AppAlarmPolicy } from '../config.js';
import { DueTimes } from '../../due-times.js';
import { NO_EPISODE, type ConditionReading, type Episode } from './episode.js';
import { assertNever, type BuiltinAlarmKind } from './kinds.js';
import {
  growthOverLimit,
  isFailing,
  isRunning,
  memoryPercent,
  nextSample,
  overLimitSince,
  reportsCrashLoop,
  restartGrowth,
  type HostAppSample,
} from './samples.js';

const MAX_LISTED_HOSTS = 10;

/**
 * What the evaluator keeps of one app: each host's last sample, and what each host adds to the
 * conditions, changed by the difference one host's report makes.
 */
export class AppTracker {
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

  /**
   * Takes a host's report; false when it changed nothing the conditions read. A report that
   * repeats the host's last sample (nextSample hands the same sample back: same state, no
   * restart, not over the limits, nothing left the restart window) leaves every count as it was,
   * and what time alone changes is the app's wake-ups' to look at (advance).
   */
  report(hostId: string, report: AppStatusReport, load: LoadFigures, policy: AppAlarmPolicy, now: number): boolean {
    const before = this.hosts.get(hostId);
    const after = nextSample(before, report, load, policy, now);
    if (after === before) return false;
    this.hosts.set(hostId, after);
    this.recount(hostId, before, after, policy, now);
    return true;
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

  health(policy: AppAlarmPolicy, required: number): ConditionReading {
    const { enabled, failingShare, forMs } = policy.health;
    const holds = enabled && this.running > 0 && this.failing / this.running > failingShare && this.failing >= required;
    return { holds, forMs, wakeAtMs: null };
  }

  crashLoop(policy: AppAlarmPolicy, required: number): ConditionReading {
    const { enabled } = policy.crashLoop;
    // Growth only shrinks as the window slides past restarts: look again when it next does.
    return { holds: enabled && this.looping.size > 0 && this.looping.size >= required, forMs: 0, wakeAtMs: enabled ? this.overGrowth.earliest() : null };
  }

  resources(policy: AppAlarmPolicy, required: number): ConditionReading {
    const { cpuPercent, memoryPercent: memLimit } = policy.resources;
    const on = cpuPercent !== null || memLimit !== null;
    return { holds: on && this.overLasting.size > 0 && this.overLasting.size >= required, forMs: 0, wakeAtMs: on ? this.overPending.earliest() : null };
  }

  /**
   * Hosts a condition must hold on before it fires (see AlarmQuorum), of the hosts assigned the
   * app or, when more report it now, of those: a controller that just started has heard from few
   * hosts yet, and the first to speak must not stand for the whole fleet.
   */
  quorum(policy: AppAlarmPolicy, assignedHosts: number): number {
    return requiredHosts(Math.max(this.hosts.size, assignedHosts), policy.quorum);
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

/** Of `hosts` counted hosts, how many a condition must hold on (at least 1). */
export function requiredHosts(hosts: number, quorum: AppAlarmPolicy['quorum']): number {
  const wanted = Math.max(quorum.minHosts, Math.ceil(quorum.minShare * hosts));
  return Math.max(1, Math.min(hosts, wanted));
}


function andMore(listed: number): string {
  return listed > 1 ? ` (and ${listed - 1} more host${listed > 2 ? 's' : ''})` : '';
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

