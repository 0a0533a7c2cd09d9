import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rollout__Output } from '@flotilla/proto';
import { followerOf, leaderOf, reviveExited, startClusterFleet, type ClusterFleet } from './cluster-scenarios.js';
import { controllerClients, downloadArtifact, releaseTarball, sha256Hex, signArtifact, uploadArtifact } from './controller-process.js';
import { deadlineFlag, delay, waitUntil } from './deadline.js';

// One NATS node of three SIGKILLed (and brought back) during an upload and during a rollout:
// what was acknowledged stays, releases stay downloadable, the rollout finishes.
let plane: ClusterFleet;

beforeAll(async () => {
  plane = await startClusterFleet({ stable: '1.0.0' });
});

afterAll(async () => {
  await plane?.fleet.stop();
});

describe('losing one NATS node of three', () => {
  it('keeps every acknowledged upload downloadable from every controller', async () => {
    const { fleet, cluster } = plane;
    const random = Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, () => Math.floor(Math.random() * 256)));
    const bytes = await releaseTarball(fleet.dir, { files: { 'payload.bin': random.toString('base64') } });
    const header = signArtifact(bytes, 'big', '1.0.0', fleet.releaseKey.signer);
    const follower = await followerOf(fleet);
    const clients = controllerClients(follower.grpc);
    try {
      const upload = uploadArtifact(clients.artifacts, header, bytes).then(
        () => 'acknowledged' as const,
        () => 'refused' as const,
      );
      await delay(30);
      await cluster.kill(1);
      // A refused upload was never acknowledged; the operator sends it again (JetStream may need
      // a few seconds to elect new stream leaders), with the node still down.
      if ((await upload) === 'refused') {
        await waitUntil('the upload to be acknowledged', () => uploadArtifact(clients.artifacts, header, bytes).then(() => true), {
          timeoutMs: 60_000,
          intervalMs: 1000,
        });
      }
      // Within one lease (4s) a leader that could not renew through the loss has stood down and
      // someone leads again; a controller that stopped is started again, as its supervisor would.
      await delay(5000);
      await reviveExited(fleet);
      await leaderOf(fleet);
      for (const c of fleet.controllers) {
        const other = controllerClients(c.grpc);
        try {
          // As an agent does: again until it answers (a stream may still be electing its leader).
          const got = await waitUntil(`the release from ${c.grpc}`, () => downloadArtifact(other.artifacts, sha256Hex(bytes)), {
            timeoutMs: 60_000,
            intervalMs: 1000,
          });
          expect(got.data.equals(bytes)).toBe(true);
        } finally {
          other.close();
        }
      }
    } finally {
      clients.close();
      await cluster.restart(1);
    }
  });

  it('finishes a rollout while a node is down and after it is back', async () => {
    const { fleet, cluster } = plane;
    fleet.useController(await leaderOf(fleet));
    const file = await fleet.release('2.0.0');
    // Pushed as an operator would: again until acknowledged, while the cluster settles after the restart.
    await waitUntil(
      'demo@2.0.0 to be pushed',
      async () => (await fleet.cli(['artifact', 'push', file, '--app', 'demo', '--version', '2.0.0', '--key', fleet.releaseKey.keyPath])).code === 0,
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    const start = await fleet.run([
      'rollout', 'start', 'demo@2.0.0',
      '--canary', '1', '--batch', '1', '--min-healthy-time', '1s', '--bake', '1s', '--canary-bake', '0s',
      '--healthy-deadline', deadlineFlag(60), '--json',
    ]);
    const id = (JSON.parse(start.stdout) as { rollout: Rollout__Output }).rollout.id;
    await fleet.waitForRollout(id, 'the second step', (r) => r.current_step >= 1);
    await cluster.kill(2);
    try {
      // Whichever controller leads now (a leader that could not renew through the loss stood down).
      const poll = async () => {
        fleet.useController(await leaderOf(fleet, fleet.controllers.filter((c) => c.child.exitCode === null && c.child.signalCode === null)));
        return fleet.rollout({ id });
      };
      const done = await waitUntil(
        `rollout ${id} to succeed`,
        async () => {
          const r = await poll();
          return r.status === 'succeeded' ? r : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      expect(done.log.filter((e) => e.kind === 'step-started').map((e) => (JSON.parse(e.details_json) as { step: number }).step)).toEqual([0, 1, 2]);
    } finally {
      await cluster.restart(2);
    }
    await fleet.waitForVersionEverywhere('2.0.0', 60_000);
  });
});
