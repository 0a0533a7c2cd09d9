import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppEvent__Output, GetHistoryResponse__Output } from '@flotilla/proto';
import { waitUntil } from './controller-process.js';
import { Fleet } from './fleet.js';

// A power loss of the single-node setup, simulated: the controller's store goes back to a copy
// taken before a deploy that every host ran. The controller must not hand out that deploy's
// rollout id again, and the hosts (whose agents refuse any seq not above the one they hold) must
// still take the next deploy and rollback. The event log says what was found.

let fleet: Fleet;

beforeAll(async () => {
  fleet = await Fleet.start({ agents: 3, heartbeatInterval: '500ms' });
  await waitUntil('three hosts up', async () => (await fleet.hosts()).filter((h) => h.state === 'up').length === 3, {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  for (const v of ['1.0.0', '2.0.0', '3.0.0']) await fleet.push(v);
}, 90_000);

afterAll(async () => {
  await fleet?.stop();
});

async function deploy(version: string): Promise<void> {
  const r = await fleet.cli(['deploy', `demo@${version}`, '--wait-timeout', '60s']);
  expect(r.code, `${r.stdout}${r.stderr}\n${fleet.diagnostics()}`).toBe(0);
  await fleet.waitForVersionEverywhere(version);
}

async function history(): Promise<GetHistoryResponse__Output> {
  const r = await fleet.cli(['history', 'demo', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as GetHistoryResponse__Output;
}

/** After nats-server restarts, the controller answers from KV again once it has reconnected. */
async function storeAnswers(): Promise<void> {
  await waitUntil('the controller to read its store again', async () => (await fleet.cli(['history', 'demo'])).code === 0, {
    timeoutMs: 30_000,
    intervalMs: 250,
  });
}

async function events(): Promise<AppEvent__Output[]> {
  const r = await fleet.cli(['events', '--app', 'demo', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { events: AppEvent__Output[] }).events;
}

describe('a store that went back in time', () => {
  it('reuses no rollout id, reconciles with the seqs hosts hold, and still reaches every host', async () => {
    await deploy('1.0.0');
    const backup = join(fleet.dir, 'jetstream-before-2.0.0');
    // Copied while nats-server is stopped, so the copy is exactly what was on disk.
    await fleet.restartNats('SIGTERM', (js) => cp(js, backup, { recursive: true }));
    await storeAnswers();
    await deploy('2.0.0');
    const lost = (await history()).rollouts.map((r) => r.id);
    const seqsBefore = (await fleet.hosts()).map((h) => Number(h.accepted_seq));
    expect(seqsBefore.every((s) => s >= 2)).toBe(true);

    // The power loss: controller and nats-server die, the store comes back as the old copy.
    await fleet.controller.stop('SIGKILL');
    await fleet.restartNats('SIGKILL', async (js) => {
      await rm(js, { recursive: true, force: true });
      await cp(backup, js, { recursive: true });
    });
    await fleet.restartController();
    await storeAnswers();
    const restored = await history();
    expect(restored.stable_version).toBe('1.0.0'); // the store really forgot 2.0.0's deploy

    // Right away, before the controller has heard what the hosts hold.
    await deploy('3.0.0');
    const after = await history();
    const newIds = after.rollouts.map((r) => r.id).filter((id) => !restored.rollouts.some((r) => r.id === id));
    expect(newIds).toHaveLength(1);
    expect(lost).not.toContain(newIds[0]);
    for (const h of await fleet.hosts()) expect(Number(h.accepted_seq)).toBeGreaterThan(Math.max(...seqsBefore));

    const rollback = await fleet.cli(['rollback', 'demo', '--to', '2.0.0', '--yes']);
    expect(rollback.code, `${rollback.stdout}${rollback.stderr}`).toBe(0);
    await fleet.waitForVersionEverywhere('2.0.0');

    const found = await waitUntil(
      'the event log to record the reconcile',
      async () => (await events()).find((e) => e.kind === 'reconcile'),
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    expect(found).toMatchObject({ app: 'demo', action: 'store-behind', source: 'hosts' });
    expect(found.message).toMatch(/host-\d holds seq \d+ with demo@/);
  });
});
