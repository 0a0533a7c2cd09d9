// Rollout overhead and revert time on a fleet of simulated hosts that report at once.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ControlClient, Rollout__Output, StartRolloutResponse__Output } from '@flotilla/proto';
import { fireAlertmanager } from '../../alerts.js';
import { releaseTarball, signArtifact, unaryCall, uploadArtifact } from '../../controller-process.js';
import { SimFleetProcess, type SimHostSpec } from '../../sim/index.js';
import { waitUntil } from '../../deadline.js';
import { firstLine, hostCounts, type BenchContext } from '../context.js';
import { ControlPlane } from '../plane.js';
import { percentile } from '../proc.js';
import { fmt, type FigureGroup, type FigureRow } from '../results.js';

const APP = 'web';
export const ROLLOUT_TARGET_MS = 3000;
export const REVERT_TARGET_MS = 1000;
/** How long the rollout figure waits for its rollout to end. */
const ROLLOUT_LIMIT_MS = 90_000;
/** How long each wait of a revert run may take. */
const RUN_WAIT_MS = 60_000;

export interface RolloutOptions {
  hosts: number;
  revertRuns: number;
  /** No revert run starts after this long (there is always one). */
  revertBudgetMs: number;
  wanted: (group: FigureGroup) => boolean;
}

/**
 * One controller and a simulated fleet whose hosts report a new version running and healthy the
 * moment they are told to run it, so that what is timed is the controller's own work and the
 * messages between it and the hosts.
 *
 * - Rollout overhead: `--batch 10%` (after the default canary of one host), zero bake and
 *   minimum healthy time, from the StartRollout call to the watch stream saying `succeeded`.
 * - Revert: a rollout of every host with a minimum healthy time of an hour, so it stays mid-way
 *   with every host on the new version; then an Alertmanager webhook POST for the app; timed
 *   until the last host's heartbeat reports the stable version active (the simulator's clock,
 *   the same machine's). Repeated, p99 over the runs.
 */
export async function rolloutFigures(ctx: BenchContext, opts: RolloutOptions, rows: FigureRow[]): Promise<void> {
  const token = randomBytes(24).toString('hex');
  const simHostId = (i: number) => `sim-${String(i).padStart(5, '0')}`;
  const plane = await ControlPlane.start({
    dir: join(ctx.dir, 'rollouts'),
    env: { FLOTILLA_ALERTS_TOKEN: token },
    ...(ctx.secure ? { secure: { simHostIds: Array.from({ length: opts.hosts }, (_, i) => simHostId(i)) } } : {}),
    ...(ctx.profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`] } : {}),
  });
  let sim: SimFleetProcess | undefined;
  try {
    sim = await SimFleetProcess.start({ natsUrl: plane.nats.url, ...(plane.simNats ? { natsAuth: plane.simNats } : {}), heartbeatIntervalMs: 1000, installDelayMs: 0 }, opts.hosts);
    const specs: SimHostSpec[] = Array.from({ length: opts.hosts }, (_, i) => ({
      hostId: simHostId(i),
      labels: { zone: 'abc'[i % 3] as string, env: 'bench' },
    }));
    ctx.log(`rollout: ${fmt.int(opts.hosts)} simulated hosts`);
    await sim.call('addHosts', specs, { perSecond: 5000 });
    await waitUntil(`${opts.hosts} hosts up`, async () => (await hostCounts(plane.httpTarget)).up >= opts.hosts, { timeoutMs: 120_000, intervalMs: 200 });

    const control = plane.clients.control;
    for (const version of ['1.0.0', '2.0.0', '3.0.0']) await pushRelease(plane, ctx, version);

    // 1.0.0 becomes the stable version.
    const first = await startRollout(control, { app: APP, version: '1.0.0', steps: '100%', min_healthy_time: '0s' });
    await watchUntil(control, first.id, (r) => r.status === 'succeeded', ROLLOUT_LIMIT_MS);

    if (opts.wanted('rollout')) {
      ctx.log('rollout: web@2.0.0, --batch 10%, no bake, no minimum healthy time');
      const t0 = performance.now();
      let started: Rollout__Output | undefined;
      let done: Rollout__Output | undefined;
      let error: string | undefined;
      try {
        started = await startRollout(control, { app: APP, version: '2.0.0', batch: '10%', min_healthy_time: '0s', bake: '0s' });
        done = await watchUntil(control, started.id, (r) => isEnded(r), ROLLOUT_LIMIT_MS);
      } catch (err) {
        error = firstLine(err);
      }
      const wallMs = performance.now() - t0;
      const ok = done?.status === 'succeeded';
      rows.push({
        id: 'rollout',
        group: 'rollout',
        figure: `rollout: ${fmt.int(opts.hosts)} hosts, --batch 10%`,
        value: done ? `${fmt.s(wallMs)} (${done.steps.length} steps)` : started ? `> ${fmt.s(wallMs)} (unfinished)` : 'failed to start',
        baseline: '—',
        ratio: '—',
        target: '< 3 s',
        met: ok ? wallMs < ROLLOUT_TARGET_MS : false,
        data: {
          hosts: opts.hosts,
          wallMs,
          controllerMs: done ? Number(done.finished_at_ms) - Number(done.created_at_ms) : NaN,
          steps: done?.steps.length ?? started?.steps.length ?? NaN,
          status: done?.status ?? 'unfinished',
        },
        ...(ok ? {} : { notes: [error ?? `the rollout ended ${done?.status}: ${done?.end_reason}`] }),
      });
      ctx.log(`rollout: ${rows[rows.length - 1]!.value}`);
      if (!ok && started) {
        await unaryCall(control, 'RolloutCommand', { id: started.id, command: 'abort', no_revert: true, actor: 'bench' }, undefined, 60_000).catch(() => undefined);
      }
    } else {
      const r = await startRollout(control, { app: APP, version: '2.0.0', steps: '100%', min_healthy_time: '0s' });
      await watchUntil(control, r.id, (x) => x.status === 'succeeded', ROLLOUT_LIMIT_MS);
    }

    if (opts.wanted('revert')) {
      const times: number[] = [];
      const answers: number[] = [];
      const notes: string[] = [];
      let missing = 0;
      const budgetEnds = Date.now() + opts.revertBudgetMs;
      const revertRun = async (run: number) => {
        const runStart = Date.now();
        // After a revert the version is marked bad: rolling it out again takes --force.
        const rollout = await startRollout(control, {
          app: APP,
          version: '3.0.0',
          steps: '100%',
          min_healthy_time: '1h',
          healthy_deadline: '2h',
          force: run > 1,
        });
        const moved = await sim!.call('waitForActivations', APP, '3.0.0', runStart, { timeoutMs: RUN_WAIT_MS });
        if (moved.missing.length > 0) throw new Error(`${moved.missing.length} hosts had not reported ${APP}@3.0.0 after ${RUN_WAIT_MS / 1000} s`);
        const t0 = Date.now();
        const answer = await fireAlertmanager(plane.httpTarget, token, APP, { alertname: 'BenchErrorRate', summary: 'error rate above threshold (benchmark)' });
        const answeredMs = Date.now() - t0;
        if (answer.status >= 300) throw new Error(`the Alertmanager webhook answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        const back = await sim!.call('waitForActivations', APP, '2.0.0', t0, { timeoutMs: RUN_WAIT_MS });
        if (back.missing.length === 0) await watchUntil(control, rollout.id, (r) => isEnded(r), RUN_WAIT_MS);
        return { revertMs: Math.max(...back.times) - t0, answeredMs, missing: back.missing.length };
      };
      for (let run = 1; run <= opts.revertRuns; run++) {
        if (run > 1 && Date.now() > budgetEnds) {
          notes.push(`${run - 1} of ${opts.revertRuns} runs fitted in the ${opts.revertBudgetMs / 1000} s budget`);
          break;
        }
        try {
          const result = await revertRun(run);
          answers.push(result.answeredMs);
          if (result.missing > 0) {
            missing += result.missing;
            break;
          }
          times.push(result.revertMs);
          ctx.log(`revert ${run}/${opts.revertRuns}: every host on 2.0.0 after ${fmt.ms(result.revertMs)} (webhook answered in ${fmt.ms(result.answeredMs)})`);
        } catch (err) {
          notes.push(`run ${run} failed: ${firstLine(err)}`);
          break;
        }
      }
      if (missing > 0) notes.push(`${missing} host reports of the stable version had not come after ${RUN_WAIT_MS / 1000} s`);
      const p99 = percentile(times, 99);
      rows.push({
        id: 'revert',
        group: 'revert',
        figure: `revert: ${fmt.int(opts.hosts)} hosts, alert → all stable (p99 of ${times.length})`,
        value: times.length > 0 ? `${fmt.ms(p99)} (p50 ${fmt.ms(percentile(times, 50))})` : 'n/a',
        baseline: '—',
        ratio: '—',
        target: '< 1 s',
        met: missing === 0 && times.length > 0 ? p99 < REVERT_TARGET_MS : false,
        data: {
          hosts: opts.hosts,
          runs: times.length,
          p99Ms: p99,
          p50Ms: percentile(times, 50),
          maxMs: times.length > 0 ? Math.max(...times) : NaN,
          webhookAnsweredP50Ms: percentile(answers, 50),
          hostsMissing: missing,
          timesMs: times.map((t) => Math.round(t)).join(','),
        },
        ...(notes.length ? { notes } : {}),
      });
    }
  } finally {
    await sim?.close();
    await plane.stop();
  }
}

function isEnded(r: Rollout__Output): boolean {
  return ['succeeded', 'reverted', 'failed', 'aborted'].includes(r.status);
}

async function pushRelease(plane: ControlPlane, ctx: BenchContext, version: string): Promise<void> {
  const bytes = await releaseTarball(join(ctx.dir, 'rollouts'), {
    manifest: { schema: 1, app: APP, version, start: { command: ['node', 'server.js'] } },
  });
  await uploadArtifact(plane.clients.artifacts, signArtifact(bytes, APP, version, plane.releaseKey.signer), bytes);
}

type StartInput = { app: string; version: string } & Record<string, string | boolean>;

async function startRollout(control: ControlClient, input: StartInput): Promise<Rollout__Output> {
  const r = await unaryCall<object, StartRolloutResponse__Output>(control, 'StartRollout', { ...input, actor: 'bench' }, undefined, 120_000);
  if (!r.rollout) throw new Error('StartRollout answered without a rollout');
  return r.rollout;
}

/** Follows WatchRollout until `done` holds (or the stream ends); bounded by `timeoutMs`. */
function watchUntil(control: ControlClient, id: string, done: (r: Rollout__Output) => boolean, timeoutMs: number): Promise<Rollout__Output> {
  return new Promise((resolve, reject) => {
    const call = control.WatchRollout({ id }, { deadline: Date.now() + timeoutMs });
    let last: Rollout__Output | undefined;
    let settled = false;
    const finish = (err: Error | null, r?: Rollout__Output) => {
      if (settled) return;
      settled = true;
      call.cancel();
      if (err) reject(err);
      else resolve(r as Rollout__Output);
    };
    call.on('data', (r: Rollout__Output) => {
      last = r;
      if (done(r)) finish(null, r);
    });
    call.on('end', () => (last && done(last) ? finish(null, last) : finish(new Error(`rollout ${id} watch ended at status ${last?.status ?? '(none)'}`))));
    call.on('error', (err) => finish(new Error(`watching rollout ${id}: ${err.message} (last status ${last?.status ?? '(none)'})`)));
  });
}
