import type { RolloutState } from '../engine/index.js';
import type { LiveAlarmResult } from '../rollouts/types.js';

/**
 * What the revert path needs of the rollouts, and nothing more (the rollout registry is handed
 * in at the edge): the app's active rollout, telling it an alarm is live, aborting it for a
 * rollback, a stored rollout's state, and running a revert while no rollout of the app starts.
 */
export interface RolloutTriggers {
  /** The app's active rollout as readers see it, or null. */
  activeRollout(app: string): RolloutState | null;
  /**
   * Feeds an alarm to the app's live rollout and waits for its effects; null when no rollout of
   * the app was active when it was decided.
   */
  alarmLive(app: string, source: string, reason: string): Promise<LiveAlarmResult | null>;
  /** An operator command on a rollout (a rollback aborts the active one). */
  command(id: string, command: 'abort', opts: { noRevert?: boolean; actor?: string }): Promise<RolloutState>;
  /** A rollout's state as stored, driven here or not. */
  stored(id: string): Promise<RolloutState | null>;
  /** Runs `fn` while no rollout of the app can start in this process. */
  exclusive<T>(app: string, fn: () => Promise<T>): Promise<T>;
}
