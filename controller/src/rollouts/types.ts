import type { AppsMutation, AssignResult } from '../assignments.js';
import type { RolloutState } from '../engine/index.js';
import type { HostListener, HostView } from '../hosts.js';

/** The fleet as the rollouts see it: the host registry. */
export interface RolloutHostSource {
  list(): HostView[];
  subscribe(listener: HostListener): () => void;
}

/** Writes hosts' desired state: the assignment writer. */
export interface RolloutAssigner {
  assignMany(hostIds: readonly string[], mutate: AppsMutation): Promise<AssignResult[]>;
  /** Throws when a signed app policy revokes the version (no host would install it). */
  refuseRevoked?(app: string, version: string): void;
}

/** Timers, injected so that tests drive time by hand. */
export interface RolloutTimers {
  set(fire: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: RolloutTimers = {
  set: (fire, delayMs) => setTimeout(fire, delayMs).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What one transition cost: deciding its events, writing the state, carrying out its actions. */
export interface TransitionStats {
  rolloutId: string;
  /** Events decided together (those that queued while the previous transition was written). */
  events: number;
  decideMs: number;
  persistMs: number;
  actMs: number;
}

/** Told of every change of one rollout, and when the controller stops before it finished. */
export interface RolloutWatcher {
  change(state: RolloutState): void;
  closed(): void;
}

/** What an alarm fed to an app's live rollout did. */
export interface LiveAlarmResult {
  /** The rollout as the alarm found it. */
  prior: RolloutState;
  /** The rollout after the alarm's effects were carried out. */
  state: RolloutState;
}

/** Where the rollout registry is in its life; a live rollout stops when it stops. */
export type RegistryPhase = 'loaded' | 'running' | 'stopping' | 'stopped';

/**
 * The one revert path, as a rollout whose step failed uses it (reverts/failed-step.ts; handed in
 * at the edge, since reverts/ sits above the rollouts). A failed step's revert is recorded and
 * carried out like every other revert: its record first, then the hosts' assignments, then the
 * event, then the record done.
 */
export interface FailedStepReverts {
  /**
   * Reverts the hosts `state` (a rollout the engine stopped for a failed step) touched, under the
   * app's revert record; idempotent, so a rollout resumed after a crash calls it again and a
   * record already written is finished rather than written twice. Resolves with the hosts whose
   * assignments are written, or null when another revert of this rollout (an alarm's) stands in
   * the record, in which case the rollout reverts its hosts itself.
   */
  revertFailedStep(state: RolloutState, hostIds: readonly string[]): Promise<readonly string[] | null>;
}
