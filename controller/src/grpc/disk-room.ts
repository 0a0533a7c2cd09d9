import { statfs } from 'node:fs/promises';
import { NO_FREE_SPACE_FLOOR, ResourceExhaustedError, floorBytes, type FreeSpaceFloor } from '@flotilla/shared';

/** Free bytes on the filesystem that holds `dir` (for an unprivileged writer). */
export type FreeBytes = (dir: string) => Promise<number>;

export const statfsFreeBytes: FreeBytes = async (dir) => {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
};

/** The size of the filesystem that holds `dir`. */
export const statfsTotalBytes: FreeBytes = async (dir) => {
  const s = await statfs(dir);
  return s.blocks * s.bsize;
};

/**
 * Room on the artifacts disk for uploads, checked against the signed size before a single byte
 * is taken. Uploads in progress hold their signed size until they end, so two uploads that each
 * fit alone cannot together fill the disk, and `floor` (artifacts.minFreeSpace) stays free after
 * them, for NATS and the logs that share the disk. One statfs per upload (two for a % floor).
 */
export class DiskRoom {
  private reserved = 0;

  constructor(
    private readonly dir: string,
    private readonly freeBytes: FreeBytes = statfsFreeBytes,
    private readonly floor: FreeSpaceFloor = NO_FREE_SPACE_FLOOR,
    private readonly totalBytes: FreeBytes = statfsTotalBytes,
  ) {}

  /** Holds `bytes` for `what`; the function returned gives them back. Throws ResourceExhaustedError. */
  async reserve(what: string, bytes: number): Promise<() => void> {
    const free = await this.freeBytes(this.dir);
    const floorAt = 'bytes' in this.floor ? this.floor.bytes : floorBytes(this.floor, await this.totalBytes(this.dir));
    const room = free - this.reserved - floorAt;
    if (bytes > room) {
      throw new ResourceExhaustedError(
        `${what} is ${bytes} bytes, but the controller's artifact disk has only ${Math.max(0, room)} bytes free` +
          (this.reserved > 0 ? ` (${free} free, ${this.reserved} held by uploads in progress)` : '') +
          (floorAt > 0 ? ` after the ${floorAt} bytes artifacts.minFreeSpace keeps free` : '') +
          '; nothing was written',
      );
    }
    this.reserved += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved -= bytes;
    };
  }
}
