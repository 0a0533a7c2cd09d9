import { statfs } from 'node:fs/promises';
import { ConfigError } from './errors.js';
import { formatByteSize, parseByteSize } from './byte-size.js';

/**
 * How much of a filesystem must stay free after a write: a fixed size, or a share of the
 * filesystem (a floor of 512 MiB is too little on a 4 TiB store and too much on a 2 GiB one).
 */
export type FreeSpaceFloor = { readonly bytes: number } | { readonly percent: number };

/** No floor: only the write itself has to fit. */
export const NO_FREE_SPACE_FLOOR: FreeSpaceFloor = Object.freeze({ bytes: 0 });

/** Reads `512MiB`, `1073741824`, `5%` or `0` (no floor). */
export function parseFreeSpaceFloor(input: string | number, what = 'free-space floor'): FreeSpaceFloor {
  if (input === 0 || (typeof input === 'string' && input.trim() === '0')) return NO_FREE_SPACE_FLOOR;
  if (typeof input === 'string' && input.trim().endsWith('%')) {
    const percent = Number(input.trim().slice(0, -1));
    if (!Number.isFinite(percent) || percent < 0 || percent >= 100) {
      throw new ConfigError(`${what}: "${input}" is not a percentage from 0% to under 100%`);
    }
    return { percent };
  }
  return { bytes: parseByteSize(input, what) };
}

/** The floor in bytes on a filesystem of `totalBytes`. */
export function floorBytes(floor: FreeSpaceFloor, totalBytes: number): number {
  return 'bytes' in floor ? floor.bytes : Math.ceil((totalBytes * floor.percent) / 100);
}

/** A filesystem's size and what an unprivileged writer may still use of it. */
export interface DiskSpace {
  readonly freeBytes: number;
  readonly totalBytes: number;
}

/** What a write would leave short; see spaceShortfall. */
export interface SpaceShortfall {
  readonly needBytes: number;
  readonly freeBytes: number;
  readonly floorBytes: number;
  /** How much more must be freed for the write to fit above the floor. */
  readonly shortBytes: number;
}

/** Null when `needBytes` more can be written and `floor` still stays free; otherwise by how much it fails. */
export function spaceShortfall(space: DiskSpace, needBytes: number, floor: FreeSpaceFloor): SpaceShortfall | null {
  const floorAt = floorBytes(floor, space.totalBytes);
  const short = needBytes + floorAt - space.freeBytes;
  return short > 0 ? { needBytes, freeBytes: space.freeBytes, floorBytes: floorAt, shortBytes: short } : null;
}

/** The shortfall in words: every size an operator needs to act on it. */
export function describeShortfall(where: string, s: SpaceShortfall): string {
  return (
    `not enough free space in ${where}: ${formatByteSize(s.needBytes)} needed plus a floor of ${formatByteSize(s.floorBytes)} ` +
    `kept free, but only ${formatByteSize(s.freeBytes)} is free (free ${formatByteSize(s.shortBytes)} more)`
  );
}

/** The space of the filesystem that holds `dir` (statfs), as an unprivileged writer sees it. */
export async function readDiskSpace(dir: string): Promise<DiskSpace> {
  const s = await statfs(dir);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}
