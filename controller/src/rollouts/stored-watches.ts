import type { Logger } from '@flotilla/shared';
import { isFinished, type RolloutState } from '../engine/index.js';
import type { RolloutStore } from './store.js';
import type { RolloutTimers, RolloutWatcher } from './types.js';

/** How often a controller that does not drive a rollout reads it for a watcher. */
const STORED_WATCH_POLL_MS = 500;

/**
 * Watches of rollouts another controller (the leader) drives: each follows the rollout by
 * reading its stored state every STORED_WATCH_POLL_MS until it finishes.
 */
export class StoredWatches {
  /** Closes each open watch. */
  private readonly open = new Set<() => void>();

  constructor(
    private readonly deps: {
      readonly store: Pick<RolloutStore, 'read'>;
      readonly timers: RolloutTimers;
      readonly logger: Logger;
    },
  ) {}

  /** Follows `state`'s rollout for `watcher`. Returns the unsubscribe function. */
  follow(state: RolloutState, watcher: RolloutWatcher): () => void {
    const { store, timers, logger } = this.deps;
    let last = JSON.stringify(state);
    let timer: unknown;
    let stopped = false;
    const stop = () => {
      stopped = true;
      timers.clear(timer);
      this.open.delete(close);
    };
    const close = () => {
      stop();
      watcher.closed();
    };
    const poll = async () => {
      if (stopped) return;
      try {
        const now = (await store.read(state.id))?.value;
        const text = now ? JSON.stringify(now) : last;
        if (now && text !== last) {
          last = text;
          watcher.change(now);
          if (isFinished(now.status)) return stop();
        }
      } catch (err) {
        logger.debug({ rolloutId: state.id, err }, 'cannot read a watched rollout; trying again');
      }
      if (!stopped) timer = timers.set(() => void poll(), STORED_WATCH_POLL_MS);
    };
    this.open.add(close);
    timer = timers.set(() => void poll(), STORED_WATCH_POLL_MS);
    return stop;
  }

  /** Tells every watcher the controller is stopping. */
  closeAll(): void {
    for (const close of [...this.open]) close();
  }
}
