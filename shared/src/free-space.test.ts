import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { describeShortfall, formatByteSize, parseFreeSpaceFloor, spaceShortfall } from './index.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe('free-space floor', () => {
  it('reads sizes, percentages and 0 (no floor); refuses anything else', () => {
    expect(parseFreeSpaceFloor('512MiB')).toEqual({ bytes: 512 * MiB });
    expect(parseFreeSpaceFloor(4096)).toEqual({ bytes: 4096 });
    expect(parseFreeSpaceFloor('5%')).toEqual({ percent: 5 });
    expect(parseFreeSpaceFloor('0')).toEqual({ bytes: 0 });
    expect(() => parseFreeSpaceFloor('100%')).toThrow(ConfigError);
    expect(() => parseFreeSpaceFloor('lots')).toThrow(ConfigError);
  });

  it('a write fits only when the floor stays free after it', () => {
    const space = { freeBytes: 2 * GiB, totalBytes: 100 * GiB };
    expect(spaceShortfall(space, GiB, { bytes: GiB })).toBeNull();
    expect(spaceShortfall(space, GiB, { bytes: GiB + 1 })).toEqual({ needBytes: GiB, freeBytes: 2 * GiB, floorBytes: GiB + 1, shortBytes: 1 });
    // 5% of 100 GiB is 5 GiB: nothing fits on a disk with 2 GiB free.
    expect(spaceShortfall(space, 1, { percent: 5 })).toMatchObject({ floorBytes: 5 * GiB, shortBytes: 3 * GiB + 1 });
  });

  it('says every size in its message', () => {
    const s = spaceShortfall({ freeBytes: 600 * MiB, totalBytes: 10 * GiB }, 200 * MiB, { bytes: 512 * MiB });
    expect(s).not.toBeNull();
    expect(describeShortfall('/var/lib/flotilla', s!)).toBe(
      'not enough free space in /var/lib/flotilla: 200 MiB needed plus a floor of 512 MiB kept free, but only 600 MiB is free (free 112 MiB more)',
    );
    expect(formatByteSize(1536 * MiB)).toBe('1.5 GiB');
  });
});
