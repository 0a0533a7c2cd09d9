import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../fleet.js';
import { NATS_KILL_POINTS, natsKillTry, startFaultFleet } from './nats-kill.js';

// The quick mode of the nats-server fault (`npm run faults -- --nats-kill --loops N` for more):
// kill -9 of nats-server once at each point of a rollout, restarted on the same port and store.

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFaultFleet();
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

describe('nats-server killed with SIGKILL during a rollout and restarted', () => {
  it.each(NATS_KILL_POINTS)('%s: nothing acknowledged lost, no host marked down', async (point) => {
    const result = await natsKillTry(fleet, point);
    expect(result.problems, fleet.diagnostics()).toEqual([]);
  }, 240_000);
});
