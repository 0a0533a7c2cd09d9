/** One RSS reading of a process. */
export interface RssSample {
  /** Since the soak started. */
  readonly atMs: number;
  readonly rssBytes: number;
}

/** Whether a process's memory has levelled off, from its RSS samples. */
export interface RssVerdict {
  /** Mean RSS over the first third (warm-up: heaps, caches and JIT code still growing). */
  readonly firstThirdMb: number;
  readonly middleThirdMb: number;
  readonly lastThirdMb: number;
  /** From the middle third's mean to the last third's, per 10 minutes. */
  readonly lateGrowthMbPer10Min: number;
  readonly levelsOff: boolean;
}

/**
 * Growth the last third may show over the middle one and still count as level: a V8 heap
 * settles in steps (a major GC, a grown old space), so a little noise is not a leak. A leak of
 * even a few bytes per heartbeat shows as steady growth third after third.
 */
export const LEVEL_TOLERANCE_MB_PER_10_MIN = 2;

/** Judges the series; undefined while there are fewer than six samples. */
export function judgeRss(samples: readonly RssSample[]): RssVerdict | undefined {
  if (samples.length < 6) return undefined;
  const third = Math.floor(samples.length / 3);
  const mean = (xs: readonly RssSample[]) => xs.reduce((s, x) => s + x.rssBytes, 0) / xs.length / 1024 ** 2;
  const midAt = (xs: readonly RssSample[]) => xs.reduce((s, x) => s + x.atMs, 0) / xs.length;
  const first = samples.slice(0, third);
  const middle = samples.slice(third, samples.length - third);
  const last = samples.slice(samples.length - third);
  const spanMs = midAt(last) - midAt(middle);
  const growth = spanMs > 0 ? ((mean(last) - mean(middle)) / spanMs) * 600_000 : 0;
  return {
    firstThirdMb: mean(first),
    middleThirdMb: mean(middle),
    lastThirdMb: mean(last),
    lateGrowthMbPer10Min: growth,
    levelsOff: growth <= LEVEL_TOLERANCE_MB_PER_10_MIN,
  };
}
