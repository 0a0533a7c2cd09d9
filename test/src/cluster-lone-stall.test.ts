import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutSummary__Output, StartRolloutResponse__Output } from '@flotilla/proto';
import { httpGet } from './agent-process.js';
import { CLUSTER_CONTROLLER_CONFIG } from './cluster-scenarios.js';
import { unaryCall, type ControllerProcess } from './controller-process.js';
import { deadlineFlag, deadlineMs, delay, waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';
import { startNatsCluster } from './nats-server.js';

// One controller alone on a three-node NATS cluster, its buckets replicated three times. Two
// nodes stall (SIGSTOP): its lease renewal cannot reach a quorum, the lease runs out, the
// controller stands down; the renewal may land once the nodes run again, after it stopped
// leading, and its reads time out while it takes its duties up again. Meanwhile an operator's
// StartRollout reaches it as a follower and is queued on the command stream. After every stall
// the controller must lead again, and it must carry the queued rollout out, once.

let fleet: Fleet;
let stalled: number[] = [];
/** How many times the two nodes stall. */
const STALLS = 5;

beforeAll(async () => {
  const cluster = await startNatsCluster(3);
  // The controller and the agents reach NATS through the node that keeps running.
  const nats = { ...cluster.asServer(), url: cluster.nodes[0]!.url };
  try {
    fleet = await Fleet.startDeployed({ stable: '1.0.0', agents: 2, heartbeatInterval: '500ms', nats, controllerConfig: CLUSTER_CONTROLLER_CONFIG });
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  stalled = [cluster.nodes[1]!.process.pid!, cluster.nodes[2]!.process.pid!];
});

afterAll(async () => {
  for (const pid of stalled) process.kill(pid, 'SIGCONT');
  await fleet?.stop();
});

async function role(c: ControllerProcess): Promise<string | undefined> {
  const r = await httpGet(Number(c.http.slice(c.http.lastIndexOf(':') + 1)), '/healthz', 2000);
  return (JSON.parse(r.body) as { cluster?: { role: string } }).cluster?.role;
}

describe('a lone controller whose lease renewal lands after its lease ran out', () => {
  it('leads again and carries out the rollout queued while it was a follower', async () => {
    await fleet.push('2.0.0');
    const controller = fleet.controller;
    const startRollout = () =>
      unaryCall<object, StartRolloutResponse__Output>(fleet.clients.control, 'StartRollout', {
        app: 'demo',
        version: '2.0.0',
        canary: '1',
        batch: '1',
        min_healthy_time: '1s',
        bake: '1s',
        healthy_deadline: deadlineFlag(60),
      }).catch((err: Error) => err);
    expect(await role(controller)).toBe('leader');

    // Whether the renewal is the write caught by a stall (rather than a read, which then times
    // out) depends on where the round is when the nodes stop: the stall is repeated a few times.
    let answer: Promise<StartRolloutResponse__Output | Error> | undefined;
    for (let stall = 1; stall <= STALLS; stall++) {
      for (const pid of stalled) process.kill(pid, 'SIGSTOP');
      try {
        await waitUntil(`the controller to stand down (stall ${stall})`, async () => (await role(controller)) === 'follower', { timeoutMs: 20_000, intervalMs: 20 });
        // As a follower it hands the call to the command stream (which takes it once the quorum is back).
        answer ??= startRollout();
        // Time for the call to reach the controller; the stalled renewal still waits for its quorum.
        await delay(300);
      } finally {
        for (const pid of stalled) process.kill(pid, 'SIGCONT');
      }
      await waitUntil(`the controller to lead again (stall ${stall})`, async () => (await role(controller)) === 'leader', { timeoutMs: 30_000, intervalMs: 100 }).catch(
        (err: unknown) => {
          throw new Error(`${String(err)}\n${controller.output()}`);
        },
      );
    }
    // The call reached a follower whose command stream had no quorum: queued (then the leader
    // carries it out), or refused when even the hand-over timed out ("cannot hand … to the
    // leader"), in which case nothing was queued and the operator asks again, as this does.
    const first = await answer!;
    if (first instanceof Error && !/is queued/.test(first.message)) {
      answer = startRollout();
    }
    const rollout = await waitUntil(
      'the queued rollout of demo@2.0.0 to succeed',
      async () => {
        const r = await fleet.rollout({ app: 'demo' }).catch(() => null);
        return r?.version === '2.0.0' && r.status === 'succeeded' ? r : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n--- StartRollout answered: ${String(await answer!)}\n${fleet.diagnostics()}`);
    });
    await fleet.waitForFleetOn('2.0.0');
    // Carried out once: one rollout of 2.0.0.
    const listed = await fleet.json<{ rollouts: RolloutSummary__Output[] }>(['rollout', 'list', '--app', 'demo']);
    expect(listed.rollouts.filter((r) => r.version === '2.0.0').map((r) => r.id)).toEqual([rollout.id]);
    const answered = await answer!;
    console.log(`[measure] StartRollout queued while the lone controller followed answered: ${answered instanceof Error ? answered.message : `rollout ${answered.rollout?.id}`}`);
    // Five stalls of the cluster's quorum, each waited out (about 45 s on a quiet machine): the
    // file's default deadline is for one step, not for five rounds of a loaded machine.
  }, deadlineMs(200_000));
});
