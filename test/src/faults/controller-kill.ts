import type { Rollout__Output } from '@flotilla/proto';
import { fireAlertmanager } from '../alerts.js';
import { waitUntil } from '../deadline.js';
import type { Fleet } from '../fleet.js';
import { startFaultFleet, type FaultFleetOptions } from './nats-kill.js';

/** Where in a rollout the (single) controller is killed with SIGKILL; the tries cycle through them. */
export const CONTROLLER_KILL_POINTS = ['with a batch under watch', 'in a bake', "right after an alert's 202", 'in the revert an alert started'] as const;
export type ControllerKillPoint = (typeof CONTROLLER_KILL_POINTS)[number];

/** The token the fault fleet's controller takes alerts with. */
export const ALERTS_TOKEN = 'faults-alerts-token-0123456789abcdef';

export interface ControllerKillTry {
  readonly point: ControllerKillPoint;
  readonly rolloutId: string;
  /** Each a plain sentence; empty when the try survived. */
  readonly problems: string[];
  /** Hosts assigned more than once for one step (a subset of problems, counted for the table). */
  readonly duplicates: number;
  /** Hosts not holding the assignment the controller recorded. */
  readonly lostAcks: number;
  /** Alarm revert with no alarm event in `flotilla events`. */
  readonly lostEvents: number;
  readonly ms: number;
}

/** A fault fleet whose controller takes alerts. */
export function startControllerKillFleet(opts: FaultFleetOptions = {}): Promise<Fleet> {
  return startFaultFleet({ ...opts, controllerEnv: { FLOTILLA_ALERTS_TOKEN: ALERTS_TOKEN } });
}

const alertPoint = (p: ControllerKillPoint) => p === "right after an alert's 202" || p === 'in the revert an alert started';

/**
 * Starts a rollout to the version the fleet is not on, SIGKILLs the controller at `point`, starts
 * it again on the same NATS and data dir, and checks what an operator would: every step started
 * once, no host was assigned twice for a step (seqs grew by one per host for a success, by two
 * for a touched host of a revert), an alert's revert happened and its event is in
 * `flotilla events`, and the fleet serves one version.
 */
export async function controllerKillTry(fleet: Fleet, point: ControllerKillPoint): Promise<ControllerKillTry> {
  const started = Date.now();
  const problems: string[] = [];
  let duplicates = 0;
  let lostEvents = 0;
  let lostAcks = 0;
  const before = await fleet.seqs();
  const from = (await fleet.answer(0))?.version ?? '1.0.0';
  const version = from === '2.0.0' ? '1.0.0' : '2.0.0';
  // An alert must find the canary under watch: a minute's healthy time holds it there.
  const minHealthy = alertPoint(point) ? '1m' : '1s';
  const start = await fleet.cli([
    'rollout', 'start', `demo@${version}`,
    '--canary', '1', '--batch', '1', '--min-healthy-time', minHealthy, '--canary-bake', '0s', '--bake', '3s',
    '--healthy-deadline', '2m', '--force', '--json',
  ]);
  if (start.code !== 0) throw new Error(`rollout start failed:\n${start.stdout}${start.stderr}`);
  const id = (JSON.parse(start.stdout) as { rollout: Rollout__Output }).rollout.id;
  const kill = async () => {
    await fleet.controller.stop('SIGKILL');
    await fleet.restartController();
  };
  try {
    if (point === 'with a batch under watch') {
      await fleet.waitForRollout(id, 'step 2 under watch', (r) => r.current_step === 1 && r.hosts.some((h) => h.state === 'healthy-wait'), 60_000);
      await kill();
    } else if (point === 'in a bake') {
      await fleet.waitForRollout(id, 'a bake', (r) => r.status === 'baking', 60_000);
      await kill();
    } else {
      await fleet.waitForRollout(id, 'the canary under watch', (r) => r.hosts.some((h) => h.state === 'healthy-wait'), 60_000);
      const reply = await fireAlertmanager(fleet.controller.http, ALERTS_TOKEN, 'demo');
      if (reply.status !== 202) problems.push(`the alert was answered ${reply.status}, not 202`);
      if (point === 'in the revert an alert started') {
        // The revert's own transition: the controller dies once the rollout shows it, or at once if it is already over.
        await fleet.waitForRollout(id, 'the revert', (r) => r.status !== 'running', 30_000).catch(() => undefined);
      }
      await kill();
    }
    const done = await fleet.waitForRollout(id, 'finished', (r) => ['succeeded', 'failed', 'reverted', 'aborted'].includes(r.status), 180_000);
    const expected = alertPoint(point) ? 'reverted' : 'succeeded';
    if (done.status !== expected) problems.push(`rollout ${id} ended ${done.status} (${done.end_reason}), not ${expected}`);
    const steps = done.log.filter((e) => e.kind === 'step-started').map((e) => (JSON.parse(e.details_json) as { step: number }).step);
    if (new Set(steps).size !== steps.length) problems.push(`a step started more than once: ${steps.join(',')}`);
    const end = alertPoint(point) ? from : version;
    await fleet.waitForVersionEverywhere(end, 60_000).catch(() => problems.push(`not every host serves demo@${end}`));
    await waitUntil('every host to hold its recorded assignment', async () => (await fleet.hosts()).every((h) => h.accepted_seq === h.assignment_seq), {
      timeoutMs: 30_000,
      intervalMs: 200,
    }).catch(() => {
      lostAcks++;
      problems.push('a host does not hold the assignment the controller recorded');
    });
    const after = await fleet.seqs();
    const touched = new Set(done.steps.filter((s) => Number(s.started_at_ms) > 0).flatMap((s) => s.host_ids));
    for (const [host, was] of before) {
      const grew = (after.get(host) ?? 0) - was;
      const want = expected === 'succeeded' ? 1 : touched.has(host) ? 2 : 0;
      if (grew !== want) {
        problems.push(`${host}: assignment seq grew by ${grew}, not ${want}`);
        if (grew > want) duplicates++;
      }
    }
    if (alertPoint(point)) {
      if (done.ended_by !== 'alarm:alertmanager') problems.push(`rollout ${id} was ended by "${done.ended_by}", not the alert`);
      const events = await fleet.events();
      if (!events.some((e) => e.kind === 'alarm' && e.rollout_id === id && e.action === 'reverted')) {
        problems.push(`flotilla events has no alarm event that reverted ${id}`);
        lostEvents++;
      }
    }
  } catch (err) {
    problems.push(err instanceof Error ? (err.message.split('\n')[0] as string) : String(err));
  }
  return { point, rolloutId: id, problems, duplicates, lostAcks, lostEvents, ms: Date.now() - started };
}
