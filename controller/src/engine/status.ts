import { InternalError } from '@flotilla/shared';
import type { HostProgress, RolloutStatus } from './types.js';

/* Which statuses and host states are which: shared by the engine's parts. */

const ACTIVE: readonly RolloutStatus[] = ['running', 'baking', 'paused', 'stabilising'];

export function isActive(status: RolloutStatus): boolean {
  return ACTIVE.includes(status);
}

export function isFinished(status: RolloutStatus): boolean {
  return status === 'succeeded' || status === 'reverted' || status === 'failed' || status === 'aborted';
}

/** Host states in which the engine watches a host's reports and timers. */
export function isObserved(h: HostProgress): boolean {
  return h.state === 'assigned' || h.state === 'healthy-wait' || h.state === 'passed';
}

export function assertNever(value: never): never {
  throw new InternalError(`rollout engine met an unexpected value: ${JSON.stringify(value)}`);
}
