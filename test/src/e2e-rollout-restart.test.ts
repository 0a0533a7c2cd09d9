import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rollout__Output } from '@flotilla/proto';
import { deadlineFlag, deadlineMs, waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';

// The controller killed with SIGKILL in the middle of a rollout, twice, and started again on the
// same NATS: the rollout carries on where it was, no step is redone, no host is assigned twice,
// and a bake that was under way when the controller died counts the time already spent.

let fleet: Fleet;

beforeAll(async () => {
  fleet = await Fleet.startDeployed({ agents: 3, heartbeatInterval: '500ms', stable: '1.0.0' });
  await fleet.push('2.0.0');
});

afterAll(async () => {
  await fleet?.stop();
});

async function killAndRestart(): Promise<void> {
  const exit = await fleet.controller.stop('SIGKILL');
  expect(exit.signal).toBe('SIGKILL');
  await fleet.restartController();
}

// The bake must outlast a controller restart so that the test finds it under way and kills the
// controller inside it: on a loaded machine a restart takes several seconds.
const BAKE_MS = deadlineMs(4000);

describe('a controller restart mid-rollout', () => {
  it('carries the rollout on to success: no step redone, no host assigned twice, bake time counted', async () => {
    const seqs = new Map((await fleet.hosts()).map((h) => [h.host_id, h.accepted_seq]));
    expect([...seqs.values()]).toEqual(['1', '1', '1']);
    const start = await fleet.cli([
      'rollout', 'start', 'demo@2.0.0',
      '--canary', '1', '--batch', '1', '--min-healthy-time', '2s', '--bake', `${BAKE_MS}ms`, '--canary-bake', '0s',
      '--healthy-deadline', deadlineFlag(60), '--json',
    ]);
    expect(start.code, start.stderr).toBe(0);
    const id = (JSON.parse(start.stdout) as { rollout: Rollout__Output }).rollout.id;

    // 1. Mid-batch: step 2's host runs the new version and is being watched for its healthy time.
    const midBatch = await fleet.waitForRollout(id, "step 2's host under watch", (r) => {
      const host = r.hosts.find((h) => h.host_id === r.steps[1]?.host_ids[0]);
      return r.current_step === 1 && host?.state === 'healthy-wait';
    });
    const step2Host = midBatch.steps[1]!.host_ids[0]!;
    await killAndRestart();

    // 2. In the bake after step 2, killed again.
    const baking = await fleet.waitForRollout(id, 'baking after step 2', (r) => r.status === 'baking' && r.current_step === 1, 30_000);
    await killAndRestart();

    const done = await fleet.waitForRollout(id, 'succeeded', (r) => r.status === 'succeeded', 60_000);
    // Each step started exactly once, in order.
    expect(done.log.filter((e) => e.kind === 'step-started').map((e) => JSON.parse(e.details_json).step)).toEqual([0, 1, 2]);
    // The bake counted from when step 2 passed, not from the restart; step 3 waited for its end.
    expect(Number(baking.steps[1]!.bake_until_ms)).toBe(Number(baking.steps[1]!.passed_at_ms) + BAKE_MS);
    expect(Number(done.steps[2]!.started_at_ms)).toBeGreaterThanOrEqual(Number(baking.steps[1]!.bake_until_ms));
    // The host watched when the controller died passed, credited from before the restart.
    expect(Number(done.hosts.find((h) => h.host_id === step2Host)!.healthy_since_ms)).toBe(
      Number(midBatch.hosts.find((h) => h.host_id === step2Host)!.healthy_since_ms),
    );
    expect(done.hosts.map((h) => h.state)).toEqual(['passed', 'passed', 'passed']);

    // One new assignment per host for the whole rollout: seq 1 was 1.0.0, seq 2 is 2.0.0.
    await waitUntil('every host to accept its assignment', async () => (await fleet.hosts()).every((h) => h.accepted_seq === '2'), {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    for (const h of await fleet.hosts()) expect([h.host_id, h.assignment_seq, h.accepted_seq]).toEqual([h.host_id, '2', '2']);
    await fleet.waitForVersionEverywhere('2.0.0');

    const history = await fleet.cli(['history', 'demo', '--json']);
    expect(JSON.parse(history.stdout)).toMatchObject({ stable_version: '2.0.0', rollouts: [{ id, status: 'succeeded' }, { status: 'succeeded' }] });
  });
});
