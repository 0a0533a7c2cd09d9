import type { AppStatusReport, HealthState, LoadFigures, ProcessState } from '@flotilla/shared';
import type { AppAlarmPolicy } from '../config.js';

// What one host last said about one app, and the pure rules read from it: restart growth in the
// crash-loop window, over the resource limits, running, failing.

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


const MAX_RESTART_SAMPLES = 64;

export function nextSample(
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
export function pruneSamples(samples: readonly RestartSample[], cutMs: number): readonly RestartSample[] {
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
export function restartGrowth(samples: readonly RestartSample[], cutMs: number, windowMs: number): { growth: number; changesAtMs: number | null } {
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
export function growthOverLimit(s: HostAppSample, policy: AppAlarmPolicy, now: number): { changesAtMs: number | null } | null {
  const { enabled, restarts, windowMs } = policy.crashLoop;
  if (!enabled || s.activeVersion === null) return null;
  const { growth, changesAtMs } = restartGrowth(s.restartSamples, now - windowMs, windowMs);
  return growth > restarts ? { changesAtMs } : null;
}

export function reportsCrashLoop(s: HostAppSample, policy: AppAlarmPolicy): boolean {
  return policy.crashLoop.enabled && s.activeVersion !== null && s.processState === 'crash-loop';
}

/** Since when a host running the app has been over its limits; null when it is not (or not running it). */
export function overLimitSince(s: HostAppSample): number | null {
  return isRunning(s) ? s.overLimitSinceMs : null;
}

export function memoryPercent(load: LoadFigures): number {
  return load.memTotalBytes > 0 ? (load.memUsedBytes / load.memTotalBytes) * 100 : 0;
}

export function overLimit(load: LoadFigures, policy: AppAlarmPolicy): boolean {
  const { cpuPercent, memoryPercent: memLimit } = policy.resources;
  return (cpuPercent !== null && load.cpuPercent > cpuPercent) || (memLimit !== null && memoryPercent(load) > memLimit);
}

export function isRunning(s: HostAppSample): boolean {
  return s.activeVersion !== null && s.processState !== 'stopped';
}

export function isFailing(s: HostAppSample): boolean {
  return s.health === 'unhealthy' || s.processState === 'exited';
}

