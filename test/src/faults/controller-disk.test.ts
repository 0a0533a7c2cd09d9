import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAN_MOUNT, DISK_SKIP_REASON, controllerDiskTry, startDiskFleet, type DiskFleet } from './controller-disk.js';

// The quick mode of the controller's full disk (`npm run faults -- --controller-disk --loops N`
// for more): an upload onto a full data dir is refused cleanly and works once there is room.

let df: DiskFleet | undefined;

beforeAll(async () => {
  if (CAN_MOUNT) df = await startDiskFleet();
}, 120_000);

afterAll(async () => {
  await df?.stop();
});

describe('a full disk on the controller', () => {
  it.skipIf(!CAN_MOUNT)(`refuses an upload naming the sizes, leaves nothing half-written, and takes it once there is room (${DISK_SKIP_REASON})`, async () => {
    const result = await controllerDiskTry(df!, '3.0.0');
    expect(result.problems, df!.fleet.diagnostics()).toEqual([]);
  }, 120_000);
});
