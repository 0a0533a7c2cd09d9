import { describe, expect, it } from 'vitest';
import { judgeRss, type RssSample } from './rss-series.js';

const MB = 1024 ** 2;
const series = (mbAt: (minute: number) => number): RssSample[] =>
  Array.from({ length: 21 }, (_, i) => ({ atMs: i * 30_000, rssBytes: mbAt(i / 2) * MB }));

describe('judgeRss', () => {
  it('calls a series that climbs while warming up and then stays flat level', () => {
    const v = judgeRss(series((m) => (m < 3 ? 60 + 5 * m : 75 + (m % 2) * 0.5)));
    expect(v?.levelsOff).toBe(true);
    expect(v?.firstThirdMb).toBeLessThan(v?.lastThirdMb as number);
  });

  it('calls a series that keeps rising, as a slow leak does, still growing', () => {
    const v = judgeRss(series((m) => 76 + 0.6 * m)); // 6 MB per 10 minutes
    expect(v?.levelsOff).toBe(false);
    expect(v?.lateGrowthMbPer10Min).toBeCloseTo(6, 0);
  });

  it('does not judge from fewer than six samples', () => {
    expect(judgeRss(series(() => 70).slice(0, 5))).toBeUndefined();
  });
});
