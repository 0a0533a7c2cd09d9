import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionTry, startPartitionFleet, type PartitionFleet } from './partition.js';

// The quick mode of the partition fault (`npm run faults -- --partition --loops N` for more): one
// host cut off NATS by a TCP proxy during a rollout, then healed.

let pf: PartitionFleet;

beforeAll(async () => {
  pf = await startPartitionFleet();
}, 120_000);

afterAll(async () => {
  await pf?.stop();
});

describe('a host partitioned from NATS during a rollout', () => {
  it('is marked down, is not counted as passed, and after the heal converges with one process', async () => {
    const result = await partitionTry(pf);
    expect(result.problems, pf.fleet.diagnostics()).toEqual([]);
  }, 400_000);
});
