import { isActive, assertNever } from './status.js';
import { hostTableOf, type RolloutFields } from './state.js';
import { ACTION_RETRY_MS, HostTracker } from './tracker.js';
import type { HostProgress, HostState, RolloutCounters, RolloutState } from './types.js';

/* When a rollout next needs a tick, and its counters: definitions the engine's tracker keeps up incrementally. */

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

export function counterOf(state: HostState): 'pending' | 'inProgress' | 'passed' | 'skipped' | 'reverting' | 'reverted' | null {
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
export function wakeAt(s: RolloutFields, tracker: HostTracker): number | null {
  if (s.status === 'reverting') return tracker.earliest();
  if (!isActive(s.status)) return null;
  let next = tracker.earliest() ?? Infinity;
  if (s.status === 'baking') next = Math.min(next, s.steps[s.currentStep]?.bakeUntilMs ?? Infinity);
  if (s.status === 'stabilising') next = Math.min(next, s.stabiliseUntilMs ?? Infinity);
  return next === Infinity ? null : next;
}
