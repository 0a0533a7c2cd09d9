import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../fleet.js';
import { CONTROLLER_KILL_POINTS, controllerKillTry, startControllerKillFleet } from './controller-kill.js';

// The quick mode of the controller fault (`npm run faults -- --controller-kill --loops N` for
// more): the single controller SIGKILLed once at each point of a rollout and started again.

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startControllerKillFleet();
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

describe('the controller killed with SIGKILL during a rollout and restarted', () => {
  it.each(CONTROLLER_KILL_POINTS)('%s: every step started once, no host assigned twice, an alert revert kept with its event', async (point) => {
    const result = await controllerKillTry(fleet, point);
    expect(result.problems, fleet.diagnostics()).toEqual([]);
  }, 300_000);
});
