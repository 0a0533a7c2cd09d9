import { statfs } from 'node:fs/promises';
import { ResourceExhaustedError } from '@flotilla/shared';

/** Free bytes on the filesystem that holds `dir` (for an unprivileged writer). */
export type FreeBytes = (dir: string) => Promise<number>;

export const statfsFreeBytes: FreeBytes = async (dir) => {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
};

/**
 * Room on the artifacts disk for uploads, checked against the signed size before a single byte
 * is taken. Uploads in progress hold their signed size until they end, so two uploads that each
 * fit alone cannot together fill the disk. One statfs per upload.
 */
export class DiskRoom {
  private reserved = 0;

  constructor(
    private readonly dir: string,
    private readonly freeBytes: FreeBytes = statfsFreeBytes,
  ) {}

  /** Holds `bytes` for `what`; the function returned gives them back. Throws ResourceExhaustedError. */
  async reserve(what: string, bytes: number): Promise<() => void> {
    const free = await this.freeBytes(this.dir);
    const room = free - this.reserved;
    if (bytes > room) {
      throw new ResourceExhaustedError(
        `${what} is ${bytes} bytes, but the controller's artifact disk has only ${Math.max(0, room)} bytes free` +
          (this.reserved > 0 ? ` (${free} free, ${this.reserved} held by uploads in progress)` : '') +
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
