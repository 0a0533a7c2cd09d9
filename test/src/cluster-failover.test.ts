import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from './agent-process.js';
import { deadlineFlag } from './deadline.js';
import { alertAsLeaderDies, fenceOf, followerOf, killLeaderMidRollout, leaderOf, startClusterFleet, type ClusterFleet } from './cluster-scenarios.js';

// Two controllers on a three-node NATS cluster, three agents given both controllers' addresses.
let plane: ClusterFleet;

beforeAll(async () => {
  plane = await startClusterFleet({ stable: '1.0.0' });
});

afterAll(async () => {
  await plane?.fleet.stop();
});

describe('a control plane of two controllers', () => {
  it('has one leader, and both controllers say which one and since when', async () => {
    const { fleet } = plane;
    const leader = await leaderOf(fleet);
    const follower = await followerOf(fleet);
    const views = await Promise.all(
      [leader, follower].map(async (c) => JSON.parse((await httpGet(Number(c.http.split(':')[1]), '/healthz')).body) as { cluster: { self: string; role: string; leader: { id: string; sinceMs: number }; controllers: { id: string; state: string }[] } }),
    );
    expect(views.map((v) => v.cluster.role)).toEqual(['leader', 'follower']);
    expect(views[1]!.cluster.leader.id).toBe(views[0]!.cluster.self);
    expect(views[0]!.cluster.leader.sinceMs).toBeGreaterThan(0);
    expect(views[1]!.cluster.controllers.map((c) => c.state).sort()).toEqual(['follower', 'leader']);
    expect(await fenceOf(follower)).toBe(await fenceOf(leader));
    // flotilla status, asked of the follower, says the same.
    fleet.useController(follower);
    const status = await fleet.run(['status']);
    expect(status.stdout).toContain(`controllers: leader ${views[0]!.cluster.self} since `);
    expect(status.stdout).toContain(`${views[1]!.cluster.self} follower at ${follower.grpc} (answered)`);
  });

  it('finishes a rollout when the leader is SIGKILLed mid-step: each step once, one new assignment per host', async () => {
    const { takeoverMs, rollout } = await killLeaderMidRollout(plane.fleet, '2.0.0');
    expect(rollout.status).toBe('succeeded');
    console.log(`[measure] leader SIGKILL to the other controller leading: ${takeoverMs} ms (lease 4s, renewal 1s)`);
  });

  it('reverts the fleet on an alert accepted with 202 as the leader dies', async () => {
    const { revertedMs, action } = await alertAsLeaderDies(plane.fleet, '3.0.0', '2.0.0');
    expect(['queued', 'reverted']).toContain(action);
    console.log(`[measure] alert 202 (${action}) with the leader SIGKILLed to the fleet reverted: ${revertedMs} ms`);
  });

  it('lets the CLI given both controllers carry on when the first stops answering', async () => {
    const { fleet } = plane;
    const follower = await followerOf(fleet);
    const leader = await leaderOf(fleet);
    await follower.stop('SIGKILL');
    try {
      const both = { FLOTILLA_CONTROLLER: `${follower.grpc},${leader.grpc}` };
      const status = await fleet.cli(['status', 'demo', '--json'], { env: both });
      expect(status.code, status.stderr).toBe(0);
      expect((JSON.parse(status.stdout) as { hosts: unknown[] }).hosts).toHaveLength(3);
      // A write too: refused by the leader itself for what it is, not for the dead first address.
      const pause = await fleet.cli(['rollout', 'pause', 'demo-9'], { env: both });
      expect(pause.code).toBe(1);
      expect(pause.stderr).toMatch(/no rollout demo-9/);
    } finally {
      await fleet.restartFleetController(follower);
    }
  });

  it('follows a rollout to its end through the follower (rollout start --watch)', async () => {
    const { fleet } = plane;
    await fleet.push('4.0.0');
    fleet.useController(await followerOf(fleet));
    const watched = await fleet.cli([
      'rollout', 'start', 'demo@4.0.0',
      '--canary', '1', '--batch', '1', '--min-healthy-time', '1s', '--bake', '0s', '--canary-bake', '0s',
      '--healthy-deadline', deadlineFlag(60), '--watch',
    ]);
    expect(watched.code, fleet.explain(watched)).toBe(0);
    expect(watched.stdout).toMatch(/succeeded/);
    await fleet.waitForVersionEverywhere('4.0.0', 60_000);
  });
});
