import { assertVersion, formatDuration, InternalError, ValidationError, type AppStatusReport } from '@flotilla/shared';
import { HostTable, type HostTableEditor } from './host-table.js';
import { planSteps, resolveFailureLimit } from './plan.js';
import { fieldsOf, hostTableOf, stateOf, type RolloutFields } from './state.js';
import { ACTION_RETRY_MS, HostTracker } from './tracker.js';
import type {
  Actor,
  Decision,
  HostProgress,
  HostState,
  PlanHost,
  ReportSummary,
  RolloutAction,
  RolloutCounters,
  RolloutEvent,
  RolloutLogKind,
  RolloutSpec,
  RolloutState,
  RolloutStatus,
  StepProgress,
} from './types.js';

/*
 * The rollout engine's decisions: state in, (state, actions) out. No I/O, no timers, no clock of
 * its own; the caller persists the returned state BEFORE carrying out the actions, and feeds back
 * an `assigned` event once assignments are written.
 *
 * Restart safety rests on three things: every time in the state is an absolute controller clock
 * value (so a bake or deadline that ran while the controller was down has still run), a step is
 * started exactly once (its startedAtMs is set in the same state that carries its assign action),
 * and an assign or revert that was never acknowledged is emitted again after ACTION_RETRY_MS (the
 * I/O layer's writes are idempotent "set the desired version", so a repeat after a crash between
 * the write and its ack changes nothing).
 *
 * Cost: what a decision does per host it touches does not grow with the rollout. Hosts live in
 * a persistent table (one changed host copies a few small nodes, see host-table.ts), and a
 * tracker kept beside the latest state knows when each host next needs a look and how far each
 * step is (tracker.ts), so neither a wake-up nor "is the step done?" walks every host. Walking
 * every host is left to what happens once per rollout: the start, a revert, going over budget.
 */

export { ACTION_RETRY_MS };

/** Log entries a state keeps; older ones fall off (counted in `logDropped`). */
export const LOG_KEPT = 500;

/** Longest text kept from a host's error report (reasons and report summaries quote it). */
export const REPORT_ERROR_KEPT = 256;

const ACTIVE: readonly RolloutStatus[] = ['running', 'baking', 'paused', 'stabilising'];

export function isActive(status: RolloutStatus): boolean {
  return ACTIVE.includes(status);
}

export function isFinished(status: RolloutStatus): boolean {
  return status === 'succeeded' || status === 'reverted' || status === 'failed' || status === 'aborted';
}

/** Host states in which the engine watches a host's reports and timers. */
function isObserved(h: HostProgress): boolean {
  return h.state === 'assigned' || h.state === 'healthy-wait' || h.state === 'passed';
}

/**
 * Starts a rollout: plans the steps over `hosts` (already resolved from the selector) and assigns
 * the canary. `stableVersion` is the app's last stable version, null for its first release.
 */
export function startRollout(
  spec: RolloutSpec,
  hosts: readonly PlanHost[],
  stableVersion: string | null,
  nowMs: number,
  id: string,
): Decision {
  if (id.trim() === '') throw new ValidationError('a rollout needs an id');
  if (stableVersion !== null) assertVersion(stableVersion);
  const plan = planSteps(hosts, spec);
  if (plan.length === 0) {
    throw new ValidationError(
      `no hosts to roll ${spec.app}@${spec.version} out to: selector "${spec.selector}" matches none`,
    );
  }
  const hostCount = plan.reduce((n, s) => n + s.length, 0);
  const records: HostProgress[] = [];
  let reached = 0;
  const steps: StepProgress[] = plan.map((hostIds, index) => {
    for (const hostId of hostIds) records.push(newHost(hostId, index));
    reached += hostIds.length;
    return { index, hostIds, targetCount: reached, startedAtMs: null, passedAtMs: null, bakeUntilMs: null };
  });
  const base: RolloutFields = {
    schema: 1,
    id,
    spec,
    status: 'running',
    stableVersion,
    hostCount,
    failureLimit: resolveFailureLimit(spec.maxFailures, hostCount),
    steps,
    currentStep: 0,
    pause: null,
    promotedAtMs: null,
    stabiliseUntilMs: null,
    wakeAtMs: null,
    counters: countHosts(records),
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
    finishedAtMs: null,
    endReason: null,
    endedBy: null,
    log: [],
    logDropped: 0,
  };
  const d = new Draft(stateOf(base, HostTable.of(records)), nowMs);
  d.log('started', `operator:${spec.createdBy}`, `rollout of ${spec.app}@${spec.version} started`, {
    hosts: hostCount,
    steps: steps.length,
    stableVersion,
    failureLimit: base.failureLimit,
  });
  if (stableVersion === null) {
    d.log('started', 'engine', `${spec.app} has no stable version yet: a failure stops the rollout without a revert`, {});
  }
  startStep(d, 0);
  settle(d, null);
  return d.finish();
}

/** A host of the plan before anything happened to it. */
export function newHost(hostId: string, step: number): HostProgress {
  return {
    hostId,
    step,
    state: 'pending',
    assignedAtMs: null,
    assignSentAtMs: null,
    assignAckedAtMs: null,
    healthySinceMs: null,
    unhealthySinceMs: null,
    passedAtMs: null,
    failedAtMs: null,
    failureReason: null,
    revertSentAtMs: null,
    revertedAtMs: null,
    down: false,
    removed: false,
    lastReport: null,
  };
}

/**
 * Applies one event. Returns the same state object when nothing changed (the caller may skip the
 * write). Events never move the clock back: a `nowMs` earlier than the state's last change is
 * taken as that time.
 */
export function decide(state: RolloutState, event: RolloutEvent): Decision {
  const d = new Draft(state, Math.max(event.nowMs, state.updatedAtMs));
  try {
    if (isActive(state.status)) {
      // Nothing time-based can be due before the wake time: most events (heartbeats that
      // repeat what a host already said) then look at no host but their own.
      if (d.timersDue) observeTime(d);
      observeEvent(d, event);
    }
    settle(d, event);
  } catch (err) {
    d.abandon();
    throw err;
  }
  return d.finish();
}

/** Runs the status transitions until the status rests, then re-sends what is overdue. */
function settle(d: Draft, event: RolloutEvent | null): void {
  // A transition may open another (a step passes, its bake of 0 ends, the next step starts):
  // repeat until the status rests. Each round moves forward through a finite list of steps.
  const bound = d.s.steps.length * 4 + 8;
  let pending: RolloutEvent | null = event;
  for (let round = 0; round < bound && d.rejected === null; round++) {
    const before = `${d.s.status}/${d.s.currentStep}`;
    transition(d, pending);
    pending = null;
    if (`${d.s.status}/${d.s.currentStep}` === before) break;
  }
  if (isActive(d.s.status) && d.timersDue) retryAssignments(d);
}

/**
 * Every status change of a rollout. `event` is the event being decided on its first round and
 * null on the rounds that follow a change (progress only).
 */
function transition(d: Draft, event: RolloutEvent | null): void {
  const s = d.s;
  switch (s.status) {
    case 'running': {
      if (interrupt(d, event) || overBudget(d)) return;
      // At rest a running step is unfinished, so an event that changed nothing cannot finish it.
      if (!d.changed) return;
      const step = s.steps[s.currentStep] as StepProgress;
      const doneAt = d.stepDoneAt(step);
      if (doneAt === null) return;
      if (step.passedAtMs === null) {
        d.patchStep(step.index, { passedAtMs: doneAt });
        d.log('step-passed', 'engine', `${stepName(s, step.index)} passed`, {
          step: step.index,
          reached: step.targetCount,
          of: s.hostCount,
        });
      }
      const passedAt = step.passedAtMs ?? doneAt;
      if (step.index === s.steps.length - 1) {
        if (s.stabiliseUntilMs === null) {
          const until = passedAt + s.spec.stableAfterMs;
          d.set({ stabiliseUntilMs: until });
          d.log('stabilising', 'engine', `every step passed; stabilising for ${formatDuration(s.spec.stableAfterMs)}`, {
            untilMs: until,
          });
        }
        d.set({ status: 'stabilising' });
      } else {
        if (step.bakeUntilMs === null) {
          const bake = step.index === 0 ? s.spec.canaryBakeMs : s.spec.bakeMs;
          d.patchStep(step.index, { bakeUntilMs: passedAt + bake });
        }
        d.set({ status: 'baking' });
      }
      return;
    }
    case 'baking': {
      if (interrupt(d, event) || overBudget(d)) return;
      const step = s.steps[s.currentStep] as StepProgress;
      if (d.now < (step.bakeUntilMs ?? 0)) return;
      if (step.index === 0 && s.spec.pauseAfterCanary && s.promotedAtMs === null) {
        d.set({ status: 'paused', pause: { reason: 'canary', atMs: d.now, by: 'engine' } });
        d.log('canary-gate', 'engine', 'canary passed; waiting for promote', {});
        return;
      }
      startStep(d, step.index + 1);
      return;
    }
    case 'paused': {
      if (event?.kind === 'operator' && (event.command === 'resume' || event.command === 'promote')) {
        const pause = s.pause;
        if (event.command === 'resume' && pause?.reason === 'canary') {
          d.reject(`rollout ${s.id} is waiting after its canary: use promote to continue`);
          return;
        }
        if (event.command === 'promote' && (s.steps[0]?.passedAtMs ?? null) !== null && s.promotedAtMs === null) {
          d.set({ promotedAtMs: d.now });
        }
        d.set({ status: 'running', pause: null });
        d.log(event.command === 'promote' ? 'promoted' : 'resumed', event.actor, `rollout ${event.command}d`, {
          pausedAtMs: pause?.atMs ?? null,
        });
        return;
      }
      if (interrupt(d, event) || overBudget(d)) return;
      return;
    }
    case 'stabilising': {
      if (interrupt(d, event) || overBudget(d)) return;
      if (d.now < (s.stabiliseUntilMs ?? 0)) return;
      d.action({ kind: 'mark-stable', app: s.spec.app, version: s.spec.version });
      end(d, 'succeeded', `${s.spec.app}@${s.spec.version} reached every host and is now stable`, 'engine');
      return;
    }
    case 'reverting': {
      if (event?.kind === 'operator') {
        d.reject(
          event.command === 'abort'
            ? `rollout ${s.id} is already reverting to ${s.stableVersion}; abort changes nothing`
            : `rollout ${s.id} is reverting; it cannot ${event.command}`,
        );
        return;
      }
      if (event?.kind === 'assigned' && event.version === s.stableVersion) {
        for (const hostId of event.hostIds) {
          if (d.host(hostId)?.state === 'reverting') d.patchHost(hostId, { state: 'reverted', revertedAtMs: d.now });
        }
      }
      if (d.s.counters.reverting === 0) {
        // The reason was logged when the revert started; this entry says it is done.
        const done = `reverted ${d.s.counters.reverted} host(s) to ${s.stableVersion}`;
        end(d, 'reverted', s.endReason ?? 'reverted', s.endedBy ?? 'engine', done);
        return;
      }
      if (d.timersDue) retryReverts(d);
      return;
    }
    case 'succeeded':
    case 'reverted':
    case 'failed':
    case 'aborted': {
      // Alarms after the end belong to the watch window, which the alarm sources handle.
      if (event?.kind === 'operator') d.reject(`rollout ${s.id} already ended ${s.status}; it cannot ${event.command}`);
      return;
    }
    default:
      assertNever(s.status);
  }
}

/**
 * Operator commands and alarms that interrupt an active rollout (running, baking, paused,
 * stabilising). Returns true when the event was handled (the status may have changed).
 */
function interrupt(d: Draft, event: RolloutEvent | null): boolean {
  const s = d.s;
  if (event?.kind === 'alarm') {
    d.log('alarm', `alarm:${event.source}`, `alarm from ${event.source}: ${event.reason}`, { reason: event.reason });
    stop(d, `alarm from ${event.source}: ${event.reason}`, `alarm:${event.source}`, s.spec.autoRevert, 'failed');
    return true;
  }
  if (event?.kind !== 'operator') return false;
  switch (event.command) {
    case 'pause':
      if (s.status === 'paused') {
        d.reject(`rollout ${s.id} is already paused`);
      } else {
        d.set({ status: 'paused', pause: { reason: 'operator', atMs: d.now, by: event.actor } });
        d.log('paused', event.actor, `rollout paused while ${s.status}`, { was: s.status });
      }
      return true;
    case 'resume':
    case 'promote':
      // Reaches here only when not paused (the paused case handles both).
      d.reject(`rollout ${s.id} is not paused (it is ${s.status}): nothing to ${event.command}`);
      return true;
    case 'abort':
      stop(d, `aborted by ${event.actor.slice('operator:'.length)}`, event.actor, event.noRevert !== true, 'aborted');
      return true;
    default:
      return assertNever(event.command);
  }
}

/** Failures over the budget stop the rollout. */
function overBudget(d: Draft): boolean {
  const s = d.s;
  if (s.counters.failed <= s.failureLimit) return false;
  const failed = d.hostsWhere((h) => h.failedAtMs !== null);
  const named = failed
    .slice(0, 5)
    .map((h) => `${h.hostId} (${h.failureReason})`)
    .join(', ');
  const more = failed.length > 5 ? ` and ${failed.length - 5} more` : '';
  stop(
    d,
    `${failed.length} host(s) failed, more than the ${s.failureLimit} tolerated: ${named}${more}`,
    'engine',
    s.spec.autoRevert,
    'failed',
  );
  return true;
}

/**
 * Ends an active rollout because of a failure, an alarm or an abort. With `revert` and a stable
 * version every touched host is sent back at once; otherwise hosts stay where they are.
 */
function stop(d: Draft, reason: string, actor: Actor, revert: boolean, without: 'failed' | 'aborted'): void {
  const s = d.s;
  if (!revert) {
    end(d, without, `${reason}; hosts left as they are`, actor);
    return;
  }
  if (s.stableVersion === null) {
    end(
      d,
      without,
      `${reason}; ${s.spec.app} has no stable version yet (first release), so there is nothing to revert to and hosts stay where they are`,
      actor,
    );
    return;
  }
  // Touched: every host the engine ever assigned, whatever became of it (a silent or removed
  // host gets the stable version whenever it next syncs).
  const touched = d.hostsWhere((h) => h.assignedAtMs !== null).map((h) => h.hostId);
  d.set({ status: 'reverting', pause: null, endReason: reason, endedBy: actor });
  for (const hostId of touched) d.patchHost(hostId, { state: 'reverting', revertSentAtMs: d.now });
  d.log('revert-started', actor, `${reason}; reverting ${touched.length} host(s) to ${s.stableVersion}`, {
    hosts: touched.length,
    version: s.stableVersion,
  });
  if (touched.length > 0) {
    d.action({ kind: 'revert', app: s.spec.app, hostIds: touched, version: s.stableVersion });
  }
}

function end(
  d: Draft,
  status: 'succeeded' | 'reverted' | 'failed' | 'aborted',
  reason: string,
  actor: Actor,
  logMessage: string = reason,
): void {
  d.set({ status, pause: null, finishedAtMs: d.now, endReason: reason, endedBy: actor });
  d.log(status, actor, logMessage, {});
  d.action({ kind: 'finished', status, reason });
}

function startStep(d: Draft, index: number): void {
  const s = d.s;
  const step = s.steps[index] as StepProgress;
  d.set({ status: 'running', currentStep: index });
  if (step.startedAtMs !== null) return;
  d.patchStep(index, { startedAtMs: d.now });
  const assign: string[] = [];
  for (const hostId of step.hostIds) {
    const h = d.host(hostId) as HostProgress;
    if (h.state !== 'pending') continue;
    assign.push(hostId);
    d.patchHost(hostId, { state: 'assigned', assignedAtMs: d.now, assignSentAtMs: d.now });
    // Assigned all the same: if the step's failure is tolerated, it converges when it is back.
    if (h.down) failHost(d, hostId, 'host was down when its step started', d.now, 'engine');
  }
  d.log('step-started', 'engine', `${stepName(s, index)} started: ${assign.length} host(s)`, {
    step: index,
    hosts: assign.length,
    reaching: step.targetCount,
    of: s.hostCount,
  });
  if (assign.length > 0) d.action({ kind: 'assign', app: s.spec.app, hostIds: assign, version: s.spec.version });
}

function stepName(s: RolloutFields, index: number): string {
  return index === 0 ? 'canary' : `step ${index + 1} of ${s.steps.length}`;
}

// ---- host-level evaluation -------------------------------------------------------------------

/** Passes and deadline failures that time alone has brought about, for every watched host. */
function observeTime(d: Draft): void {
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

function observeEvent(d: Draft, event: RolloutEvent): void {
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
  const healthy = onTarget && report.processState === 'running' && report.health === 'healthy';
  if (cur.state === 'assigned' && healthy) {
    d.patchHost(hostId, { state: 'healthy-wait', healthySinceMs: d.now });
  } else if (cur.state === 'healthy-wait' && !healthy) {
    d.patchHost(hostId, { state: 'assigned', healthySinceMs: null });
  } else if (cur.state === 'passed') {
    if (healthy && cur.unhealthySinceMs !== null) d.patchHost(hostId, { unhealthySinceMs: null });
    if (!healthy && cur.unhealthySinceMs === null) d.patchHost(hostId, { unhealthySinceMs: d.now });
  }
}

function failHost(d: Draft, hostId: string, reason: string, atMs: number, actor: Actor): void {
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

function retryAssignments(d: Draft): void {
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
  d.action({ kind: 'assign', app: d.s.spec.app, hostIds, version: d.s.spec.version });
}

function retryReverts(d: Draft): void {
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

// ---- timers and counters ---------------------------------------------------------------------

/**
 * The next time at which a tick can change the decision, or null when only events can. Walks
 * every host: the engine keeps the same answer from its tracker; this is the definition.
 */
export function nextWakeMs(s: RolloutState): number | null {
  let next = Infinity;
  const at = (t: number | null) => {
    if (t !== null && t < next) next = t;
  };
  const spec = s.spec;
  const hosts = hostTableOf(s);
  if (s.status === 'reverting') {
    for (const h of hosts) {
      if (h.state === 'reverting' && h.revertSentAtMs !== null) at(h.revertSentAtMs + ACTION_RETRY_MS);
    }
  } else if (isActive(s.status)) {
    for (const h of hosts) {
      if (h.state === 'assigned' || h.state === 'healthy-wait') {
        at((h.assignedAtMs ?? 0) + spec.healthyDeadlineMs);
        if (h.healthySinceMs !== null) at(h.healthySinceMs + spec.minHealthyTimeMs);
        if (h.assignAckedAtMs === null && h.assignSentAtMs !== null && h.state === 'assigned') {
          at(h.assignSentAtMs + ACTION_RETRY_MS);
        }
      } else if (h.state === 'passed' && h.unhealthySinceMs !== null) {
        at(h.unhealthySinceMs + spec.minHealthyTimeMs);
      }
    }
    if (s.status === 'baking') at(s.steps[s.currentStep]?.bakeUntilMs ?? null);
    if (s.status === 'stabilising') at(s.stabiliseUntilMs);
  }
  return next === Infinity ? null : next;
}

/** Counts hosts by state (the engine keeps `state.counters` equal to this as it goes). */
export function countHosts(hosts: Iterable<HostProgress>): RolloutCounters {
  const c: RolloutCounters = {
    hosts: 0,
    pending: 0,
    inProgress: 0,
    passed: 0,
    failed: 0,
    skipped: 0,
    reverting: 0,
    reverted: 0,
  };
  for (const h of hosts) {
    c.hosts++;
    if (h.failedAtMs !== null) c.failed++;
    const bucket = counterOf(h.state);
    if (bucket !== null) c[bucket]++;
  }
  return c;
}

function counterOf(state: HostState): 'pending' | 'inProgress' | 'passed' | 'skipped' | 'reverting' | 'reverted' | null {
  switch (state) {
    case 'pending':
      return 'pending';
    case 'assigned':
    case 'healthy-wait':
      return 'inProgress';
    case 'passed':
      return 'passed';
    case 'skipped':
      return 'skipped';
    case 'reverting':
      return 'reverting';
    case 'reverted':
      return 'reverted';
    case 'failed':
      return null;
    default:
      return assertNever(state);
  }
}

/** A host of the rollout by id. */
export function findHost(state: RolloutState, hostId: string): HostProgress | undefined {
  return hostTableOf(state).find(hostId);
}

/** When a tick is next due: the hosts' earliest time (from the tracker) and the status's own. */
function wakeAt(s: RolloutFields, tracker: HostTracker): number | null {
  if (s.status === 'reverting') return tracker.earliest();
  if (!isActive(s.status)) return null;
  let next = tracker.earliest() ?? Infinity;
  if (s.status === 'baking') next = Math.min(next, s.steps[s.currentStep]?.bakeUntilMs ?? Infinity);
  if (s.status === 'stabilising') next = Math.min(next, s.stabiliseUntilMs ?? Infinity);
  return next === Infinity ? null : next;
}

function assertNever(value: never): never {
  throw new InternalError(`rollout engine met an unexpected value: ${JSON.stringify(value)}`);
}

// ---- the draft of a decision -----------------------------------------------------------------

/**
 * A state being decided. Copies only what changes (a report touches one host record of
 * thousands), and knows whether anything changed at all, so that an event that changes nothing
 * hands back the very same state object. The state given is never changed.
 */
class Draft {
  /** Every field but the hosts, as decided so far (arrays inside are copied before a change). */
  readonly s: RolloutFields;
  readonly now: number;
  /** Something time-based may be due (the clock reached the wake time of the state given). */
  readonly timersDue: boolean;
  rejected: string | null = null;
  private readonly base: RolloutState;
  private readonly table: HostTable;
  private editor: HostTableEditor | null = null;
  private readonly tracker: HostTracker;
  /** Positions handed out by `takeDue` and not yet given back. */
  private taken: number[] = [];
  private readonly actions: RolloutAction[] = [];
  private touched = false;
  private stepsOwned = false;
  private logOwned = false;
  private countersOwned = false;

  constructor(base: RolloutState, now: number) {
    this.base = base;
    this.s = fieldsOf(base);
    this.table = hostTableOf(base);
    this.tracker = HostTracker.of(this.table, base.spec, base.steps.length);
    this.now = now;
    this.timersDue = base.wakeAtMs !== null && now >= base.wakeAtMs;
  }

  /** Whether anything in the state changed so far in this decision. */
  get changed(): boolean {
    return this.touched;
  }

  host(hostId: string): HostProgress | undefined {
    const at = this.table.positionOf(hostId);
    return at === undefined ? undefined : this.at(at);
  }

  /** Hosts as they are now that `test` picks, in plan order. Walks every host. */
  hostsWhere(test: (h: HostProgress) => boolean): HostProgress[] {
    const out: HostProgress[] = [];
    this.walk((h) => {
      if (test(h)) out.push(h);
    });
    return out;
  }

  /** When the step's last host passed or failed (not before it started); null while any is undecided. */
  stepDoneAt(step: StepProgress): number | null {
    return this.tracker.stepDoneAt(step.index, step.startedAtMs);
  }

  /**
   * Hosts with a time at or before now, in plan order. Give them back with `keepTaken` once
   * looked at (each is then tracked as it is by then).
   */
  takeDue(): HostProgress[] {
    const positions = this.tracker.takeDue(this.now);
    for (const p of positions) this.taken.push(p);
    return positions.map((p) => this.at(p) as HostProgress);
  }

  keepTaken(): void {
    for (const at of this.taken) this.tracker.keep(at, this.at(at) as HostProgress);
    this.taken = [];
  }

  set(patch: Partial<RolloutFields>): void {
    const cur = this.s as unknown as Record<string, unknown>;
    const diff = Object.entries(patch).filter(([k, v]) => !sameValue(cur[k], v));
    if (diff.length === 0) return;
    this.touched = true;
    Object.assign(this.s, Object.fromEntries(diff));
  }

  patchHost(hostId: string, patch: Partial<HostProgress>): void {
    const at = this.table.positionOf(hostId);
    if (at === undefined) return;
    const cur = this.at(at) as HostProgress;
    const rec = cur as unknown as Record<string, unknown>;
    if (Object.entries(patch).every(([k, v]) => sameValue(rec[k], v))) return;
    this.touched = true;
    this.editor ??= this.table.edit();
    const next: HostProgress = { ...cur, ...patch };
    this.editor.set(at, next);
    this.recount(cur, next);
    this.tracker.hostChanged(at, cur, next, (visit) => this.walk(visit));
  }

  /** Keeps the counters in step with one host's change, without counting every host again. */
  private recount(before: HostProgress, after: HostProgress): void {
    const from = before.state === after.state ? null : counterOf(before.state);
    const to = before.state === after.state ? null : counterOf(after.state);
    const failed = (after.failedAtMs !== null ? 1 : 0) - (before.failedAtMs !== null ? 1 : 0);
    if (from === null && to === null && failed === 0) return;
    if (!this.countersOwned) {
      this.s.counters = { ...this.s.counters };
      this.countersOwned = true;
    }
    if (from !== null) this.s.counters[from]--;
    if (to !== null) this.s.counters[to]++;
    this.s.counters.failed += failed;
  }

  patchStep(index: number, patch: Partial<StepProgress>): void {
    this.touched = true;
    if (!this.stepsOwned) {
      this.s.steps = [...this.s.steps];
      this.stepsOwned = true;
    }
    this.s.steps[index] = { ...(this.s.steps[index] as StepProgress), ...patch };
  }

  log(kind: RolloutLogKind, actor: Actor, message: string, details: Record<string, unknown>): void {
    this.touched = true;
    if (!this.logOwned) {
      this.s.log = [...this.s.log];
      this.logOwned = true;
    }
    this.s.log.push({ atMs: this.now, kind, actor, message, details });
    const over = this.s.log.length - LOG_KEPT;
    if (over > 0) {
      this.s.log.splice(0, over);
      this.s.logDropped = (this.s.logDropped ?? 0) + over;
    }
  }

  action(a: RolloutAction): void {
    this.actions.push(a);
  }

  /** Refuses the event: the decision hands back the state it was given, untouched. */
  reject(message: string): void {
    this.rejected = message;
  }

  /** The decision failed part-way: what the tracker learnt from it must not outlive it. */
  abandon(): void {
    HostTracker.forget(this.table);
  }

  finish(): Decision {
    let state = this.base;
    let actions = this.actions;
    if (this.rejected !== null) {
      // Hosts may have changed before the refusal: the tracker no longer matches the state given.
      if (this.editor !== null) HostTracker.forget(this.table);
      actions = [{ kind: 'rejected', message: this.rejected }];
    } else if (this.touched) {
      const table = this.editor?.done() ?? this.table;
      this.s.updatedAtMs = this.now;
      this.s.wakeAtMs = wakeAt(this.s, this.tracker);
      state = stateOf(this.s, table);
      HostTracker.moved(this.table, table, this.tracker);
    }
    if (state.wakeAtMs !== null) actions.push({ kind: 'schedule', atMs: state.wakeAtMs });
    return { state, actions };
  }

  private at(position: number): HostProgress | undefined {
    return this.editor !== null ? this.editor.at(position) : this.table.at(position);
  }

  private walk(visit: (h: HostProgress) => void): void {
    if (this.editor !== null) this.editor.forEach(visit);
    else this.table.forEach(visit);
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  // Only small flat records (a report summary, a pause) are compared this way.
  return JSON.stringify(a) === JSON.stringify(b);
}
