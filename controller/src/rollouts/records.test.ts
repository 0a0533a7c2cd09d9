import { describe, expect, it } from 'vitest';
import { ValidationError } from '@flotilla/shared';
import { appOfRolloutId, rolloutId } from './records.js';

const T = 1_700_000_000_000;

describe('rollout ids', () => {
  it('read as app, count and a stamp of letters', () => {
    expect(rolloutId('web', 12, T)).toMatch(/^web-12-[a-z]{7}$/);
  });

  it('differ when a store that went back in time hands out the same count a second later', () => {
    expect(rolloutId('demo', 17, T + 1000)).not.toBe(rolloutId('demo', 17, T));
  });

  it('sort by the time they were handed out', () => {
    const stamps = [T, T + 1000, T + 25_000, T + 86_400_000, T + 10 * 365 * 86_400_000].map((t) => rolloutId('web', 1, t));
    expect([...stamps].sort()).toEqual(stamps);
  });

  it('name their app, including apps whose name ends in a number, and old ids still parse', () => {
    expect(appOfRolloutId(rolloutId('web', 3, T))).toBe('web');
    expect(appOfRolloutId(rolloutId('api-2', 5, T))).toBe('api-2');
    expect(appOfRolloutId('web-12')).toBe('web');
    expect(() => appOfRolloutId('web-12-ABCDEFG')).toThrow(ValidationError);
    expect(() => appOfRolloutId('web')).toThrow(ValidationError);
  });
});
