import type { Logger } from '@flotilla/shared';
import { isFinished, type RolloutState } from '../engine/index.js';
import type { RolloutTimers, RolloutWatcher } from './types.js';

/**
 * Watchers of a rollout are told of its changes at most this often per host in it (a rollout of
 * 25,000 hosts: every 250 ms), since each message to them carries every host; the end, and any
 * change of a rollout under 100 hosts, at once.
 */
const WATCH_INTERVAL_MS_PER_HOST = 0.01;

export interface WatchThrottleDeps {
  timers: RolloutTimers;
  now: () => number;
  /** The rollout's logger (it carries the rollout id). */
  logger: Logger;
  /** The state readers see now. */
  published: () => RolloutState;
}

/** The watchers of one rollout, told of its published states no more often than its size allows. */
export class WatchThrottle {
  private readonly watchers = new Set<RolloutWatcher>();
  /** When watchers were last told, and the timer of a change they are still to be told of. */
  private toldAtMs = -Infinity;
  private timer: unknown;

  constructor(private readonly deps: WatchThrottleDeps) {}

  add(watcher: RolloutWatcher): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  /** The published state changed: tell the watchers now, or once the interval has passed. */
  changed(): void {
    if (this.watchers.size === 0) return;
    const state = this.deps.published();
    const interval = Math.floor(state.hostCount * WATCH_INTERVAL_MS_PER_HOST);
    const wait = this.toldAtMs + interval - this.deps.now();
    if (wait <= 0 || isFinished(state.status)) {
      this.disarm();
      this.tell();
      return;
    }
    // Told when the timer fires, of the state published by then.
    if (this.timer !== undefined) return;
    this.timer = this.deps.timers.set(() => {
      this.timer = undefined;
      this.tell();
    }, wait);
  }

  /** Tells every watcher the controller is stopping, and forgets them. */
  close(): void {
    for (const watcher of this.watchers) watcher.closed();
    this.watchers.clear();
  }

  /** Forgets the watchers and any update held back (the rollout is no longer driven). */
  clear(): void {
    this.disarm();
    this.watchers.clear();
  }

  disarm(): void {
    if (this.timer !== undefined) this.deps.timers.clear(this.timer);
    this.timer = undefined;
  }

  private tell(): void {
    this.toldAtMs = this.deps.now();
    const state = this.deps.published();
    for (const watcher of this.watchers) {
      try {
        watcher.change(state);
      } catch (err) {
        this.deps.logger.error({ err }, 'rollout watcher failed');
      }
    }
  }
}
