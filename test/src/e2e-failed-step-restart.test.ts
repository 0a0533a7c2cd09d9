import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rollout__Output } from '@flotilla/proto';
import { deadlineFlag, deadlineMs, delay, waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';

// A rollout's failed step reverts through the one revert path: its record first, then the hosts.
// Here the controller SIGKILLs itself right after writing that record (the test-only fault hook
// FLOTILLA_FAULT_KILL_AFTER_REVERT_RECORD), before any host is moved, and is started again on the
// same NATS and data dir: the revert is carried on to its end, once.

let fleet: Fleet;

beforeAll(async () => {
  fleet = await Fleet.startDeployed({
    agents: 2,
    heartbeatInterval: '500ms',
    stable: '1.0.0',
    controllerEnv: { FLOTILLA_FAULT_KILL_AFTER_REVERT_RECORD: '1' },
  });
  await fleet.push('2.0.0', 'unhealthy');
});

afterAll(async () => {
  await fleet?.stop();
});

describe('a controller SIGKILL in the middle of a failed step\'s revert', () => {
  it('is carried on after the restart: the canary back on stable with one new assignment, one record, one event', async () => {
    const before = new Map((await fleet.hosts()).map((h) => [h.host_id, Number(h.accepted_seq)]));
    const start = await fleet.cli([
      'rollout', 'start', 'demo@2.0.0',
      '--canary', '1', '--batch', '1', '--min-healthy-time', '1s', '--healthy-deadline', deadlineFlag(30), '--json',
    ]);
    expect(start.code, start.stderr).toBe(0);
    const id = (JSON.parse(start.stdout) as { rollout: Rollout__Output }).rollout.id;

    // The canary fails its health gate; the controller dies once the revert's record is written.
    const exit = await Promise.race([fleet.controller.exited, delay(deadlineMs(90_000)).then(() => null)]);
    expect(exit?.signal, 'the controller should kill itself after writing the revert record').toBe('SIGKILL');
    await fleet.restartController();

    const done = await fleet.waitForRollout(id, 'reverted', (r) => r.status === 'reverted' || r.status === 'failed', 60_000);
    expect(done.status, JSON.stringify(done.log)).toBe('reverted');
    expect(done.ended_by).toBe('engine');
    const canary = done.steps[0]!.host_ids[0]!;
    const other = fleet.agents.map((a) => a.hostId).find((h) => h !== canary)!;
    await waitUntil('the canary serving 1.0.0 again', async () => (await fleet.answer(fleet.indexOf(canary)))?.version === '1.0.0', {
      timeoutMs: 30_000,
      intervalMs: 100,
    });

    // One failed-step event, naming the revert record that moved the canary.
    const failed = (await fleet.events()).filter((e) => e.kind === 'failed-step');
    expect(failed.map((e) => [e.rollout_id, e.source, e.action, e.from_version, e.to_version, e.hosts])).toEqual([
      [id, 'engine', 'reverted', '2.0.0', '1.0.0', 1],
    ]);
    expect(failed[0]!.revert_id).toMatch(/^demo-r\d+$/);
    expect((await fleet.cli(['rollout', 'status', id])).stdout).toMatch(/failed-step\s+engine\s+reverted\s+2\.0\.0 -> 1\.0\.0\s+1\s/);

    // The canary got the new version and then its revert, one assignment each; the other host none.
    await waitUntil(
      'the canary to accept its revert',
      async () => Number((await fleet.hosts()).find((h) => h.host_id === canary)?.accepted_seq) === before.get(canary)! + 2,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const after = new Map((await fleet.hosts()).map((h) => [h.host_id, Number(h.accepted_seq)]));
    expect(after.get(other)).toBe(before.get(other));
  });
});
