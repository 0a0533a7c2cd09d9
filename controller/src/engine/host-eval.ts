import { formatDuration, type AppStatusReport } from '@flotilla/shared';
import type { Draft } from './draft.js';
import { assertNever, isObserved } from './status.js';
import { ACTION_RETRY_MS } from './tracker.js';
import type { Actor, HostProgress, ReportSummary, RolloutEvent, RolloutState, TrafficTarget } from './types.js';

/*
 * Host-level evaluation: what a host's report, or time passing, does to that host (healthy,
 * passed, failed), and the assignments and reverts sent again when unacknowledged. The rollout-
 * level transitions that follow from it are engine.ts's.
 */

/** Longest text kept from a host's error report (reasons and report summaries quote it). */
export const REPORT_ERROR_KEPT = 256;


/** Passes and deadline failures that time alone has brought about, for every watched host. */
export function observeTime(d: Draft): void {
  // Only hosts with a time at or before now can change; they are looked at in plan order.
  for (const h of d.takeDue()) {
    if (isObserved(h)) hostTimers(d, h.hostId);
  }
  d.keepTaken();
}

function hostTimers(d: Draft, hostId: string): void {
  const h = d.host(hostId) as HostProgress;
  const spec = d.s.spec;
  if (h.state === 'passed') {
    if (h.unhealthySinceMs !== null && h.unhealthySinceMs + spec.minHealthyTimeMs <= d.now) {
      failHost(
        d,
        hostId,
        `passed, then unhealthy for ${formatDuration(spec.minHealthyTimeMs)}: ${describeReport(h.lastReport, spec.version)}`,
        h.unhealthySinceMs + spec.minHealthyTimeMs,
        'engine',
      );
    }
    return;
  }
  if (h.state !== 'assigned' && h.state !== 'healthy-wait') return;
  const deadline = (h.assignedAtMs ?? d.now) + spec.healthyDeadlineMs;
  // A pass is credited at the moment it happened, even when noticed late (after a restart).
  if (h.state === 'healthy-wait' && h.healthySinceMs !== null) {
    const passAt = h.healthySinceMs + spec.minHealthyTimeMs;
    if (passAt <= d.now && passAt <= deadline) {
      d.patchHost(hostId, { state: 'passed', passedAtMs: passAt, unhealthySinceMs: null });
      return;
    }
  }
  if (deadline <= d.now) {
    failHost(
      d,
      hostId,
      `not healthy for ${formatDuration(spec.minHealthyTimeMs)} within the healthy deadline of ${formatDuration(spec.healthyDeadlineMs)}: ${describeReport(h.lastReport, spec.version)}`,
      deadline,
      'engine',
    );
  }
}

export function observeEvent(d: Draft, event: RolloutEvent): void {
  const spec = d.s.spec;
  switch (event.kind) {
    case 'host-report':
      if (event.report !== null && event.report.app !== spec.app) return;
      if (d.host(event.hostId) === undefined) return;
      applyReport(d, event.hostId, event.report);
      if (isObserved(d.host(event.hostId) as HostProgress)) hostTimers(d, event.hostId);
      return;
    case 'host-removed': {
      const h = d.host(event.hostId);
      if (h === undefined || h.removed) return;
      d.patchHost(event.hostId, { removed: true });
      if (h.state === 'pending') {
        d.patchHost(event.hostId, { state: 'skipped' });
        d.log('host-skipped', `host:${event.hostId}`, `${event.hostId} left before its step started`, {
          hostId: event.hostId,
        });
      } else if (isObserved(h)) {
        failHost(d, event.hostId, 'host left the fleet (or the selection)', d.now, `host:${event.hostId}`);
      }
      return;
    }
    case 'assigned':
      if (event.version !== spec.version) return;
      for (const hostId of event.hostIds) {
        const h = d.host(hostId);
        if (h && h.assignedAtMs !== null && h.assignAckedAtMs === null) d.patchHost(hostId, { assignAckedAtMs: d.now });
      }
      return;
    case 'tick':
    case 'operator':
    case 'alarm':
      return;
    default:
      assertNever(event);
  }
}

function applyReport(d: Draft, hostId: string, report: AppStatusReport | null): void {
  const h = d.host(hostId) as HostProgress;
  const spec = d.s.spec;
  if (report === null) {
    if (!h.down) d.patchHost(hostId, { down: true });
    if (isObserved(h)) failHost(d, hostId, 'host went silent (marked down)', d.now, `host:${hostId}`);
    return;
  }
  if (h.state === 'pending') {
    if (h.down) d.patchHost(hostId, { down: false });
    return;
  }
  if (!isObserved(h)) return;
  d.patchHost(hostId, { down: false, lastReport: summarise(report) });
  const target = spec.version;
  if (h.assignAckedAtMs === null && (report.desiredVersion === target || report.activeVersion === target)) {
    d.patchHost(hostId, { assignAckedAtMs: d.now });
  }
  const onTarget = report.activeVersion === target;
  const installing = (report.installVersion ?? report.desiredVersion) === target;
  const actor: Actor = `host:${hostId}`;
  if (report.installPhase === 'failed' && installing) {
    failHost(d, hostId, `install of ${spec.app}@${target} failed: ${clip(report.error) ?? 'no reason given'}`, d.now, actor);
    return;
  }
  if (onTarget && (report.processState === 'crash-loop' || report.restarts > spec.crashLoopRestarts)) {
    failHost(
      d,
      hostId,
      `crash-looping: ${report.restarts} restart(s), more than ${spec.crashLoopRestarts} allowed (process ${report.processState})`,
      d.now,
      actor,
    );
    return;
  }
  if (onTarget && report.processState === 'exited') {
    failHost(d, hostId, `process exited and will not be restarted: ${clip(report.error) ?? 'no reason given'}`, d.now, actor);
    return;
  }
  const cur = d.host(hostId) as HostProgress;
  // A running target whose health check is reported failing fails the host at once: the agent
  // only says 'unhealthy' after the manifest's failureThreshold (and past its startPeriod), so
  // waiting out the deadline would only keep a bad canary serving longer. (A process that
  // exited is judged by the crash-loop rule above instead, which names the real cause.)
  if (onTarget && report.processState === 'running' && report.health === 'unhealthy' && (cur.state === 'assigned' || cur.state === 'healthy-wait')) {
    failHost(d, hostId, `health check failing on ${target}: ${clip(report.error) ?? 'no reason given'}`, d.now, actor);
    return;
  }
  // Health is judged on the controller's clock from the reports as they arrive; the host's own
  // healthSinceMs is not trusted across machines.
  // Under traffic steps a canary host counts only once its balancer carries the step's weight
  // (a host without a weighted balancer reports none and runs the release alone).
  const wantWeight = cur.step === 0 ? canaryTraffic(d.s)?.weight : undefined;
  const weighted = wantWeight === undefined || report.trafficWeight === undefined || report.trafficWeight === wantWeight;
  const healthy = onTarget && report.processState === 'running' && report.health === 'healthy' && weighted;
  if (cur.state === 'assigned' && healthy) {
    d.patchHost(hostId, { state: 'healthy-wait', healthySinceMs: d.now });
  } else if (cur.state === 'healthy-wait' && !healthy) {
    d.patchHost(hostId, { state: 'assigned', healthySinceMs: null });
  } else if (cur.state === 'passed') {
    if (healthy && cur.unhealthySinceMs !== null) d.patchHost(hostId, { unhealthySinceMs: null });
    if (!healthy && cur.unhealthySinceMs === null) d.patchHost(hostId, { unhealthySinceMs: d.now });
  }
}

export function failHost(d: Draft, hostId: string, reason: string, atMs: number, actor: Actor): void {
  d.patchHost(hostId, { state: 'failed', failedAtMs: atMs, failureReason: reason, healthySinceMs: null });
  d.log('host-failed', actor, `${hostId} failed: ${reason}`, { hostId, reason });
}

function summarise(r: AppStatusReport): ReportSummary {
  return {
    activeVersion: r.activeVersion,
    processState: r.processState,
    health: r.health,
    installPhase: r.installPhase,
    restarts: r.restarts,
    error: clip(r.error),
    ...(r.trafficWeight !== undefined ? { trafficWeight: r.trafficWeight } : {}),
  };
}

/** A host's error text, cut to REPORT_ERROR_KEPT characters: it is kept per host in the state. */
function clip(error: string | null): string | null {
  if (error === null || error.length <= REPORT_ERROR_KEPT) return error;
  return `${error.slice(0, REPORT_ERROR_KEPT - 1)}…`;
}

function describeReport(r: ReportSummary | null, target: string): string {
  if (r === null) return 'no status report received from the host';
  const version = r.activeVersion === null ? 'no version active' : `${r.activeVersion} active`;
  const install = r.installPhase === 'idle' || r.installPhase === 'done' ? '' : `, install ${r.installPhase}`;
  const wrong = r.activeVersion === target ? '' : ` (target ${target})`;
  const error = r.error ? `: ${r.error}` : '';
  return `last report: ${version}${wrong}, process ${r.processState}, health ${r.health}${install}${error}`;
}

export function retryAssignments(d: Draft): void {
  const due = d.takeDue().filter(
    (h) =>
      h.state === 'assigned' &&
      h.assignAckedAtMs === null &&
      h.assignSentAtMs !== null &&
      h.assignSentAtMs + ACTION_RETRY_MS <= d.now,
  );
  d.keepTaken();
  if (due.length === 0) return;
  const hostIds = due.map((h) => h.hostId);
  for (const hostId of hostIds) d.patchHost(hostId, { assignSentAtMs: d.now });
  d.log('assign-retried', 'engine', `assignment of ${hostIds.length} host(s) not acknowledged; sending again`, {
    hosts: hostIds.length,
  });
  // The canary's hosts are sent their traffic step again, the others a plain assignment.
  const traffic = canaryTraffic(d.s);
  const canary = traffic === undefined ? [] : due.filter((h) => h.step === 0).map((h) => h.hostId);
  const rest = hostIds.filter((id) => !canary.includes(id));
  if (canary.length > 0) d.action({ kind: 'assign', app: d.s.spec.app, hostIds: canary, version: d.s.spec.version, traffic: traffic as TrafficTarget });
  if (rest.length > 0) d.action({ kind: 'assign', app: d.s.spec.app, hostIds: rest, version: d.s.spec.version });
}

/** What the canary's hosts are told about traffic at the current traffic step; undefined without traffic steps. */
export function canaryTraffic(s: Pick<RolloutState, 'spec' | 'trafficStep'>): TrafficTarget | undefined {
  const steps = s.spec.traffic;
  if (steps === undefined || steps.length === 0) return undefined;
  const weight = steps[Math.min(s.trafficStep ?? 0, steps.length - 1)] as number;
  return weight === 100 ? { weight, retire: true } : { weight };
}

/** The canary has traffic steps still ahead of it. */
export function moreTraffic(s: Pick<RolloutState, 'spec' | 'trafficStep'>): boolean {
  return (s.spec.traffic?.length ?? 0) > (s.trafficStep ?? 0) + 1;
}

export function retryReverts(d: Draft): void {
  const s = d.s;
  const due = d
    .takeDue()
    .filter((h) => h.state === 'reverting' && h.revertSentAtMs !== null && h.revertSentAtMs + ACTION_RETRY_MS <= d.now);
  d.keepTaken();
  if (due.length === 0 || s.stableVersion === null) return;
  const hostIds = due.map((h) => h.hostId);
  for (const hostId of hostIds) d.patchHost(hostId, { revertSentAtMs: d.now });
  d.log('revert-retried', 'engine', `revert of ${hostIds.length} host(s) not acknowledged; sending again`, {
    hosts: hostIds.length,
  });
  d.action({ kind: 'revert', app: s.spec.app, hostIds, version: s.stableVersion });
}
