// Faults of a control plane of several controllers on a three-node NATS cluster, written once for
// the integration test (each once) and the longer fault loop (cluster-fault-loop.ts, many times).
import type { Rollout__Output } from '@flotilla/proto';
import { httpGet } from './agent-process.js';
import { postAlert } from './alerts.js';
import { LogFollower } from './bench/logs.js';
import type { ControllerProcess } from './controller-process.js';
import { deadlineFlag, waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';
import { startNatsCluster, type NatsCluster } from './nats-server.js';

export const CLUSTER_ALERTS_TOKEN = 'cluster-alerts-token-0123456789abcdef';

/** Replicated buckets, and a short lease so a takeover comes in seconds. */
export const CLUSTER_CONTROLLER_CONFIG = ['nats:', '  kvReplicas: 3', 'cluster:', '  lease: 4s', '  renewInterval: 1s', '  margin: 1s', ''].join('\n');

export interface ClusterFleet {
  fleet: Fleet;
  cluster: NatsCluster;
}

/** Three NATS nodes, two controllers (or `controllers`), `agents` agents with every controller's address, `stable` deployed. */
export async function startClusterFleet(
  opts: { agents?: number; stable?: string; controllers?: number; /** More controller config after CLUSTER_CONTROLLER_CONFIG. */ config?: string } = {},
): Promise<ClusterFleet> {
  const cluster = await startNatsCluster(3);
  let fleet: Fleet | undefined;
  try {
    fleet = await Fleet.start({
      nats: cluster.asServer(),
      controllers: opts.controllers ?? 2,
      agents: opts.agents ?? 3,
      heartbeatInterval: '500ms',
      controllerConfig: CLUSTER_CONTROLLER_CONFIG + (opts.config ?? ''),
      controllerEnv: { FLOTILLA_ALERTS_TOKEN: CLUSTER_ALERTS_TOKEN },
    });
    await fleet.waitForHostsUp();
    // Through the follower: the upload lands in the object store, the deploy is handed over.
    fleet.useController(await followerOf(fleet));
    const stable = opts.stable ?? '1.0.0';
    await fleet.push(stable);
    await fleet.run(['deploy', `demo@${stable}`, '--wait-timeout', deadlineFlag(60)]);
    return { fleet, cluster };
  } catch (err) {
    const diagnostics = fleet?.diagnostics() ?? '';
    if (fleet) await fleet.stop();
    else await cluster.stop();
    throw new Error(`${String(err)}\n${diagnostics}`);
  }
}

interface Health {
  cluster?: { self: string; role: string; leader: { id: string; fence: number; sinceMs: number } | null };
}

async function healthOf(c: ControllerProcess): Promise<Health | null> {
  const port = Number(c.http.slice(c.http.lastIndexOf(':') + 1));
  const r = await httpGet(port, '/healthz', 2000);
  if (r.status !== 200) return null;
  try {
    return JSON.parse(r.body) as Health;
  } catch {
    return null;
  }
}

/** The controller that says it leads (waits for one, bounded). */
export function leaderOf(fleet: Fleet, among: ControllerProcess[] = fleet.controllers, timeoutMs = 30_000): Promise<ControllerProcess> {
  return waitUntil(
    'a controller to lead',
    async () => {
      for (const c of among) if ((await healthOf(c))?.cluster?.role === 'leader') return c;
      return undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** A running controller that does not lead. */
export async function followerOf(fleet: Fleet): Promise<ControllerProcess> {
  const leader = await leaderOf(fleet);
  const other = fleet.controllers.find((c) => c !== leader);
  if (!other) throw new Error('the fleet has one controller');
  return other;
}

/**
 * Starts again every controller of the fleet that has exited, as its supervisor (systemd's
 * Restart=) would.
 */
export async function reviveExited(fleet: Fleet): Promise<ControllerProcess[]> {
  const exited = fleet.controllers.filter((c) => c.child.exitCode !== null || c.child.signalCode !== null);
  for (const c of exited) await fleet.restartFleetController(c);
  return exited;
}

/** The leader's fencing number as a controller reports it. */
export async function fenceOf(c: ControllerProcess): Promise<number | undefined> {
  return (await healthOf(c))?.cluster?.leader?.fence;
}

/** What one leader kill mid-rollout took. */
export interface Takeover {
  /** SIGKILL to the follower's /healthz saying it leads (polled every 100 ms). */
  takeoverMs: number;
  /**
   * SIGKILL to the new leader's "leading" log line: its first actions done (the rollout resumed
   * with a tick, the alarms started, the command stream consumed), by its own clock.
   */
  firstActionMs: number;
  rollout: Rollout__Output;
}

/**
 * A rollout started through the follower; the leader SIGKILLed while a step's host is under
 * watch; the other controller takes over and finishes it. Checks each step started once and each
 * host got exactly one new assignment. Brings the killed controller back as a follower.
 */
export async function killLeaderMidRollout(fleet: Fleet, version: string): Promise<Takeover> {
  await fleet.push(version);
  const before = await fleet.seqs();
  const leader = await leaderOf(fleet);
  const fenceBefore = await fenceOf(leader);
  const follower = fleet.controllers.find((c) => c !== leader)!;
  fleet.useController(follower);
  const start = await fleet.run([
    'rollout', 'start', `demo@${version}`,
    '--canary', '1', '--batch', '1', '--min-healthy-time', '1s', '--bake', '1s', '--canary-bake', '0s',
    '--healthy-deadline', deadlineFlag(60), '--json',
  ]);
  const id = (JSON.parse(start.stdout) as { rollout: Rollout__Output }).rollout.id;
  await fleet.waitForRollout(id, "step 2's host under watch", (r) => r.current_step >= 1 && r.status === 'running');

  // Followed from before the kill, so the line cannot be missed; read for its timestamp only.
  const leading = new LogFollower('the follower', follower.child.stdout, follower.child.stderr).waitFor((l) => l.msg === 'leading', 60_000);
  leading.catch(() => undefined);
  const killedAt = Date.now();
  await leader.stop('SIGKILL');
  const next = await leaderOf(fleet, [follower]);
  const takeoverMs = Date.now() - killedAt;
  const firstActionMs = (await leading).atMs - killedAt;
  const fenceAfter = await fenceOf(next);
  if (fenceBefore === undefined || fenceAfter === undefined || fenceAfter <= fenceBefore) {
    throw new Error(`the new leadership's fencing number ${fenceAfter} is not above the old one's ${fenceBefore}`);
  }
  const done = await fleet.waitForRollout(id, 'succeeded', (r) => r.status === 'succeeded', 90_000);
  const started = done.log.filter((e) => e.kind === 'step-started').map((e) => (JSON.parse(e.details_json) as { step: number }).step);
  if (started.join(',') !== '0,1,2') throw new Error(`steps started ${started.join(',')}, expected each once in order`);
  const after = await fleet.seqs();
  for (const [host, seq] of before) {
    if (after.get(host) !== seq + 1) throw new Error(`host ${host} went from seq ${seq} to ${after.get(host)}: expected exactly one new assignment`);
  }
  await fleet.waitForVersionEverywhere(version, 60_000);
  await fleet.restartFleetController(leader);
  return { takeoverMs, firstActionMs, rollout: done };
}

/**
 * A rollout under way; the leader SIGKILLed, and at once an alert posted to the other controller,
 * which answers 202 before any controller leads. The one left takes over, finds the alert in the
 * command stream, and reverts the rollout. Brings the killed controller back as a follower.
 */
export async function alertAsLeaderDies(fleet: Fleet, version: string, stable: string): Promise<{ revertedMs: number; action: string }> {
  await fleet.push(version);
  const leader = await leaderOf(fleet);
  const follower = fleet.controllers.find((c) => c !== leader)!;
  fleet.useController(follower);
  const start = await fleet.run([
    'rollout', 'start', `demo@${version}`,
    '--canary', '1', '--batch', '1', '--min-healthy-time', '1s', '--bake', '1m', '--canary-bake', '0s',
    '--healthy-deadline', deadlineFlag(60), '--json',
  ]);
  const id = (JSON.parse(start.stdout) as { rollout: Rollout__Output }).rollout.id;
  await fleet.waitForRollout(id, 'baking after the first steps', (r) => r.status === 'baking');

  const [reply] = await Promise.all([
    postAlert(follower.http, '/v1/alerts', { app: 'demo', reason: `leader died with the alert in flight (${version})`, source: 'fault-test' }, CLUSTER_ALERTS_TOKEN),
    leader.stop('SIGKILL'),
  ]);
  const acceptedAt = Date.now();
  if (reply.status !== 202) throw new Error(`the alert was answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  const action = reply.body.apps?.[0]?.action ?? '';
  await leaderOf(fleet, [follower]);
  const reverted = await fleet.waitForRollout(id, 'reverted', (r) => r.status === 'reverted', 90_000);
  await fleet.waitForVersionEverywhere(stable, 60_000);
  const revertedMs = Date.now() - acceptedAt;
  const events = await fleet.events();
  const alarms = events.filter((e) => e.kind === 'alarm' && e.rollout_id === reverted.id && e.source === 'webhook:fault-test');
  if (alarms.length !== 1) throw new Error(`expected the alert once in the event log, found ${alarms.length}`);
  await fleet.restartFleetController(leader);
  return { revertedMs, action };
}

/** What a run of leader-kill rounds measured; filled as it goes, so a failed round keeps the earlier ones. */
export interface LeaderKills {
  readonly takeoverMs: number[];
  readonly firstActionMs: number[];
  /** Alert accepted (202, leader SIGKILLed with it) to every host serving the stable version again. */
  readonly revertedMs: number[];
}

/**
 * `rounds` rounds on a fleet from startClusterFleet with `1.0.0` stable: each SIGKILLs the leader
 * mid-rollout (the rollout finishes on the other controller), then SIGKILLs it again as an alert
 * is accepted by the other controller (the fleet reverts). Each kill is checked as the scenarios
 * above check it; the first one that goes wrong throws.
 */
export async function killLeaderRounds(
  fleet: Fleet,
  rounds: number,
  into: LeaderKills,
  onRound: (round: number, takeover: Takeover, revert: { revertedMs: number; action: string }) => void = () => undefined,
): Promise<void> {
  let stable = '1.0.0';
  for (let round = 1; round <= rounds; round++) {
    const good = `${round + 1}.0.0`;
    const takeover = await killLeaderMidRollout(fleet, good);
    into.takeoverMs.push(takeover.takeoverMs);
    into.firstActionMs.push(takeover.firstActionMs);
    stable = good;
    const revert = await alertAsLeaderDies(fleet, `${round + 1}.1.0`, stable);
    into.revertedMs.push(revert.revertedMs);
    onRound(round, takeover, revert);
  }
}

/** The median (upper of the middle two) and the largest of some times. */
export function medianAndMax(ms: readonly number[]): { median: number; max: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted.at(-1) ?? NaN };
}
