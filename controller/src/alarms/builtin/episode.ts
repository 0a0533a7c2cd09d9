// One alarm kind of one app over time: when an episode starts, fires, clears. Pure.

/** One alarm kind of one app: an episode starts when its condition holds and ends when it stops. */
export interface Episode {
  /** Since when the condition has held; null when it does not. */
  readonly sinceMs: number | null;
  /** The alarm was raised for this episode (latched until the condition clears). */
  readonly firing: boolean;
  /** After a failed hand-over: not raised again before this time. */
  readonly retryAtMs: number | null;
}


export const NO_EPISODE: Episode = Object.freeze({ sinceMs: null, firing: false, retryAtMs: null });

/** A condition's reading at one moment: what an episode needs to move on. */
export interface ConditionReading {
  readonly holds: boolean;
  /** How long it must hold before the alarm fires. */
  readonly forMs: number;
  /** When the condition can stop or start holding by itself (samples leaving the window, for instance). */
  readonly wakeAtMs: number | null;
}

export interface EpisodeStep {
  readonly episode: Episode;
  /** Raise the alarm now. */
  readonly fire: boolean;
  /** The episode of a raised alarm ended: how long it lasted; null otherwise. */
  readonly clearedAfterMs: number | null;
  readonly wakeAtMs: number | null;
}

/**
 * One alarm kind of one app, moved on by its condition's reading at `now`: fires once per
 * episode after the condition has held for its `forMs` (latched), not before a failed
 * hand-over's retry time, and clears when the condition stops holding. Pure.
 */
export function stepEpisode(e: Episode, c: ConditionReading, now: number): EpisodeStep {
  if (!c.holds) {
    return {
      episode: e.sinceMs === null ? e : NO_EPISODE,
      fire: false,
      clearedAfterMs: e.firing ? now - (e.sinceMs ?? now) : null,
      wakeAtMs: c.wakeAtMs,
    };
  }
  const sinceMs = e.sinceMs ?? now;
  let { firing, retryAtMs } = e;
  let wakeAtMs = c.wakeAtMs;
  let fire = false;
  if (!firing && retryAtMs !== null && now < retryAtMs) {
    wakeAtMs = earliest(wakeAtMs, retryAtMs);
  } else if (!firing && now - sinceMs >= c.forMs) {
    fire = true;
    firing = true;
    retryAtMs = null;
  } else if (!firing) {
    wakeAtMs = earliest(wakeAtMs, sinceMs + c.forMs);
  }
  const same = sinceMs === e.sinceMs && firing === e.firing && retryAtMs === e.retryAtMs;
  return { episode: same ? e : { sinceMs, firing, retryAtMs }, fire, clearedAfterMs: null, wakeAtMs };
}


export function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

