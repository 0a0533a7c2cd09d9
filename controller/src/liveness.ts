import type { HostState } from './store/records.js';

/** What the liveness rule needs to know about one host. */
export interface LivenessInput {
  state: HostState;
  /** When the controller last heard from the host (or started watching it, after a restart). */
  lastSeenMs: number;
  heartbeatIntervalMs: number;
}

/**
 * The down rule: a host is down once it has been silent for more than `downAfterMissed` of its
 * own heartbeat intervals. Pure, so that it is tested without waiting; the registry calls it
 * from its sweep with the real clock.
 */
export function isSilentTooLong(input: LivenessInput, downAfterMissed: number, nowMs: number): boolean {
  return nowMs - input.lastSeenMs > downAfterMissed * input.heartbeatIntervalMs;
}

/**
 * The state the sweep should move a host to, or null to leave it. The sweep only ever marks
 * hosts down; a host comes back up when its next heartbeat (or announce) arrives.
 */
export function sweepDecision(input: LivenessInput, downAfterMissed: number, nowMs: number): HostState | null {
  if (input.state === 'up' && isSilentTooLong(input, downAfterMissed, nowMs)) return 'down';
  return null;
}

/** How often to sweep: a quarter of the shortest heartbeat interval, kept within [100 ms, 1 s]. */
export function sweepIntervalMs(heartbeatIntervalsMs: Iterable<number>): number {
  let shortest = Infinity;
  for (const ms of heartbeatIntervalsMs) shortest = Math.min(shortest, ms);
  if (!Number.isFinite(shortest)) return 1000;
  return Math.min(1000, Math.max(100, Math.floor(shortest / 4)));
}
