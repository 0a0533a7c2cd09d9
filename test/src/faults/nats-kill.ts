import type { Rollout__Output } from '@flotilla/proto';
import { waitUntil } from '../controller-process.js';
import { Fleet } from '../fleet.js';

/** Where in a rollout nats-server is killed; the tries cycle through them. */
export const NATS_KILL_POINTS = ['right after the start was acknowledged', 'with the canary under watch', 'in a later batch'] as const;
export type NatsKillPoint = (typeof NATS_KILL_POINTS)[number];

/** One kill -9 of nats-server during a rollout, and what it broke (nothing, we hope). */
export interface NatsKillTry {
  readonly point: NatsKillPoint;
  readonly rolloutId: string;
  /** Each a plain sentence; empty when the try survived. */
  readonly problems: string[];
  /** Hosts off the rollout's version at the end. */
  readonly stranded: number;
  /** Acknowledged writes not found afterwards (a host's assignment, a seq that went back). */
  readonly lostAcks: number;
  /** Acknowledged rollouts missing from history. */
  readonly lostEvents: number;
  readonly ms: number;
}

export interface FaultFleetOptions {
  /** @default 3 */
  agents?: number;
  log?: (message: string) => void;
  /** More environment for the controller (FLOTILLA_ALERTS_TOKEN, say). */
  controllerEnv?: Record<string, string>;
}

/** A real fleet with demo 1.0.0 deployed and 2.0.0 pushed: both versions to walk between. */
export async function startFaultFleet(opts: FaultFleetOptions = {}): Promise<Fleet> {
  const agents = opts.agents ?? 3;
  const fleet = await Fleet.start({ agents, heartbeatInterval: '500ms', logLevel: 'warn', ...(opts.controllerEnv ? { controllerEnv: opts.controllerEnv } : {}) });
  try {
    await waitUntil('every host up', async () => (await fleet.hosts()).filter((h) => h.state === 'up').length === agents, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    for (const v of ['1.0.0', '2.0.0']) await fleet.push(v);
    const r = await fleet.cli(['deploy', 'demo@1.0.0', '--wait-timeout', '60s']);
    if (r.code !== 0) throw new Error(`deploy of demo@1.0.0 failed:\n${r.stdout}${r.stderr}`);
    await fleet.waitForVersionEverywhere('1.0.0');
    opts.log?.(`fleet of ${agents} up on demo@1.0.0`);
    return fleet;
  } catch (err) {
    await fleet.stop();
    throw err;
  }
}

/**
 * Starts a rollout to the version the fleet is not on, kills nats-server with SIGKILL at `point`,
 * starts it again on the same port and storage, and checks what an operator would: the
 * acknowledged rollout is still there and succeeds, every host serves the version with the seq
 * the controller recorded (no seq went back), and no host was marked down meanwhile.
 */
export async function natsKillTry(fleet: Fleet, point: NatsKillPoint): Promise<NatsKillTry> {
  const started = Date.now();
  const problems: string[] = [];
  let stranded = 0;
  let lostAcks = 0;
  let lostEvents = 0;
  const before = new Map((await fleet.hosts()).map((h) => [h.host_id, Number(h.assignment_seq)]));
  const from = (await fleet.answer(0))?.version;
  const version = from === '2.0.0' ? '1.0.0' : '2.0.0';
  const start = await fleet.cli([
    'rollout', 'start', `demo@${version}`,
    '--canary', '1', '--batch', '1', '--min-healthy-time', '1s', '--canary-bake', '0s', '--bake', '500ms',
    '--healthy-deadline', '60s', '--force', '--json',
  ]);
  if (start.code !== 0) throw new Error(`rollout start failed:\n${start.stdout}${start.stderr}`);
  const id = (JSON.parse(start.stdout) as { rollout: Rollout__Output }).rollout.id;

  // Every host state seen from here until the end: none may be "down" (nats-server's death is
  // not the hosts'); polled from the controller's memory, which is what `flotilla hosts` shows.
  const downs = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    for (let i = 0; watching && i < 10_000; i++) {
      try {
        for (const h of await fleet.hosts()) if (h.state === 'down') downs.add(h.host_id);
      } catch {
        // The controller answers ListHosts from memory; a failed call is not a host going down.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  try {
    if (point === 'with the canary under watch') {
      await fleet.waitForRollout(id, 'the canary under watch', (r) => r.hosts.some((h) => h.state === 'healthy-wait'), 60_000);
    } else if (point === 'in a later batch') {
      await fleet.waitForRollout(id, 'a later batch', (r) => r.current_step >= 1, 60_000);
    }
    await fleet.restartNats('SIGKILL');
    const done = await fleet.waitForRollout(id, 'finished', (r) => ['succeeded', 'failed', 'reverted', 'aborted'].includes(r.status), 120_000);
    if (done.status !== 'succeeded') problems.push(`rollout ${id} ended ${done.status}: ${done.end_reason}`);
    await fleet.waitForVersionEverywhere(version, 60_000).catch(() => {
      stranded++;
      problems.push(`not every host serves demo@${version}`);
    });
    await waitUntil(
      'every host to hold its recorded assignment',
      async () => (await fleet.hosts()).every((h) => h.accepted_seq === h.assignment_seq),
      { timeoutMs: 30_000, intervalMs: 200 },
    ).catch(() => {
      lostAcks++;
      problems.push('a host does not hold the assignment the controller recorded');
    });
    for (const h of await fleet.hosts()) {
      const was = before.get(h.host_id) ?? 0;
      if (Number(h.assignment_seq) <= was) lostAcks++;
      if (Number(h.assignment_seq) <= was) problems.push(`${h.host_id}: assignment seq ${h.assignment_seq}, was ${was}: the rollout's write was lost`);
    }
    const history = await fleet.cli(['history', 'demo', '--json']);
    const ids = (JSON.parse(history.stdout) as { rollouts: { id: string }[] }).rollouts.map((r) => r.id);
    if (!ids.includes(id)) {
      lostEvents++;
      problems.push(`history lost rollout ${id}`);
    }
  } catch (err) {
    problems.push(err instanceof Error ? err.message.split('\n')[0] as string : String(err));
  } finally {
    watching = false;
    await watcher;
  }
  for (const h of downs) problems.push(`${h} was marked down`);
  return { point, rolloutId: id, problems, stranded, lostAcks, lostEvents, ms: Date.now() - started };
}
