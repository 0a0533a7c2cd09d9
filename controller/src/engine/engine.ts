import { assertVersion, formatDuration, ValidationError } from '@flotilla/shared';
import { HostTable } from './host-table.js';
import { planSteps, resolveFailureLimit } from './plan.js';
import { stateOf, type RolloutFields } from './state.js';
import { ACTION_RETRY_MS } from './tracker.js';
import { Draft } from './draft.js';
import { canaryTraffic, moreTraffic, observeTime, observeEvent, failHost, retryAssignments, retryReverts } from './host-eval.js';
import { assertNever, isActive } from './status.js';
import { countHosts } from './wake.js';
import type { Actor, Decision, HostProgress, PlanHost, RolloutEvent, RolloutSpec, RolloutState, StepProgress, TrafficTarget } from './types.js';

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
export { LOG_KEPT } from './draft.js';
export { REPORT_ERROR_KEPT } from './host-eval.js';
export { isActive, isFinished } from './status.js';
export { countHosts, findHost, nextWakeMs } from './wake.js';


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
    ...(spec.traffic !== undefined ? { trafficStep: 0 } : {}),
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
        const at = step.index === 0 ? canaryTraffic(s) : undefined;
        d.log('step-passed', 'engine', `${stepName(s, step.index)} passed${at ? ` at ${at.weight}% of the traffic` : ''}`, {
          step: step.index,
          reached: step.targetCount,
          of: s.hostCount,
        });
      }
      const passedAt = step.passedAtMs ?? doneAt;
      if (step.index === s.steps.length - 1 && !(step.index === 0 && moreTraffic(s))) {
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
      if (step.index === 0 && moreTraffic(s)) {
        nextTrafficStep(d);
        return;
      }
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
  const traffic = index === 0 ? canaryTraffic(s) : undefined;
  if (assign.length > 0) d.action({ kind: 'assign', app: s.spec.app, hostIds: assign, version: s.spec.version, ...(traffic ? { traffic } : {}) });
}

/**
 * The canary passed (and baked) at one traffic step: its hosts get the next step's weight and are
 * watched again from the start, as a step's hosts are, before anything goes further.
 */
function nextTrafficStep(d: Draft): void {
  const s = d.s;
  const step = s.steps[0] as StepProgress;
  d.set({ status: 'running', trafficStep: (s.trafficStep ?? 0) + 1 });
  d.patchStep(0, { passedAtMs: null, bakeUntilMs: null });
  const traffic = canaryTraffic(d.s) as TrafficTarget;
  const assign: string[] = [];
  for (const hostId of step.hostIds) {
    const h = d.host(hostId) as HostProgress;
    if (h.state !== 'passed') continue;
    assign.push(hostId);
    d.patchHost(hostId, {
      state: 'assigned',
      assignedAtMs: d.now,
      assignSentAtMs: d.now,
      assignAckedAtMs: null,
      healthySinceMs: null,
      unhealthySinceMs: null,
      passedAtMs: null,
    });
  }
  d.log('step-started', 'engine', `canary moves to ${traffic.weight}% of the traffic: ${assign.length} host(s)`, {
    step: 0,
    hosts: assign.length,
    weight: traffic.weight,
  });
  if (assign.length > 0) d.action({ kind: 'assign', app: s.spec.app, hostIds: assign, version: s.spec.version, traffic });
}

function stepName(s: RolloutFields, index: number): string {
  return index === 0 ? 'canary' : `step ${index + 1} of ${s.steps.length}`;
}
