import {
  UnavailableError,
  describeShortfall,
  readDiskSpace,
  spaceShortfall,
  type DiskSpace,
  type FreeSpaceFloor,
} from '@flotilla/shared';

export interface RoomForDownload {
  /** Where the bytes will be written (the download cache). */
  readonly dir: string;
  /** The signed size of the artifact. */
  readonly needBytes: number;
  readonly floor: FreeSpaceFloor;
  /** @default readDiskSpace (statfs) */
  readonly read?: (dir: string) => Promise<DiskSpace>;
}

/**
 * Refuses to start a download that would leave the filesystem below its floor. A full disk is
 * something an operator (or the cache trimming) can put right, so the failure is transient
 * (UnavailableError): the install is retried with back-off and succeeds once there is room.
 * The signed size is counted whole even when part of it is already cached: a resumed download
 * near the floor is refused a little early rather than the disk filled a little late.
 */
export async function ensureRoomForDownload(check: RoomForDownload): Promise<void> {
  const space = await (check.read ?? readDiskSpace)(check.dir);
  const short = spaceShortfall(space, check.needBytes, check.floor);
  if (!short) return;
  throw new UnavailableError(describeShortfall(check.dir, short), {
    details: { needBytes: short.needBytes, freeBytes: short.freeBytes, floorBytes: short.floorBytes },
  });
}
