import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../fleet.js';
import { AGENT_KILL_POINTS, agentKillTry } from './agent-kill.js';
import { startFaultFleet } from './nats-kill.js';

// The quick mode of the agent fault on a whole fleet (`npm run faults -- --agent-kill --loops N`
// for more; agent-faults.test.ts checks each step against a stand-in controller): one agent
// SIGKILLed after an install step during a deploy, then started again. One step here, between the
// spawn of the new process and saving its pid, where a duplicate used to come from; the full mode
// cycles through all of them.

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFaultFleet();
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

describe('an agent SIGKILLed after an install step during a deploy', () => {
  it.each(AGENT_KILL_POINTS.filter((p) => p === 'start-new'))('after %s: every host converges with one process', async (point) => {
    const result = await agentKillTry(fleet, point, '3.0.0');
    expect(result.problems, fleet.diagnostics()).toEqual([]);
  }, 240_000);
});
