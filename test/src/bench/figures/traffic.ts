// Traffic-shifted releases behind nginx (docs/traffic.md): failed requests while traffic moves
// and while it is put back, how fast an alert puts all of it on the stable version (one real host,
// and a simulated fleet), and what an nginx reload costs the requests going through it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlClient, Rollout__Output } from '@flotilla/proto';
import { NginxUpstreams, type SlotWeight } from '@flotilla/agent';
import { createLogger } from '@flotilla/shared';
import { AgentProcess, freePort, killAppsOf, pidAlive as alive } from '../../agent-process.js';
import { fireAlertmanager } from '../../alerts.js';
import { unaryCall } from '../../controller-process.js';
import { delay, waitUntil } from '../../deadline.js';
import { buildDemoAppRelease, runCli } from '../../fleet.js';
import { LoadGenerator, type LoadAnswer, type LoadCounts } from '../../load.js';
import { SimFleetProcess, type SimHostSpec } from '../../sim/index.js';
import { answersByVersion, startSlotsNginx, type SlotsNginx } from '../../slots-nginx.js';
import { firstLine, hostCounts, type BenchContext } from '../context.js';
import { Nginx, nginxAvailable } from '../nginx.js';
import { ControlPlane } from '../plane.js';
import { CLOCK_TICKS, cpuSeconds, percentile } from '../proc.js';
import { fmt, type FigureRow } from '../results.js';
import { isEnded, pushRelease, startRollout, watchUntil } from './rollouts.js';

/** Alert → all of the traffic on the stable version, one real host behind nginx. */
export const HOST_SWITCH_TARGET_MS = 300;
/** Alert → every simulated host reporting the stable version at weight 100. */
export const FLEET_SWITCH_TARGET_MS = 1000;
/** One upstream change as the agent makes it (write, nginx -t, reload). */
export const RELOAD_TARGET_MS = 100;
/** Bound on every wait for a rollout, a host or the load generator (a hung process, not a slow one). */
const WAIT_MS = 120_000;

export interface TrafficOptions {
  /** Requests a second the load generator sends through nginx. */
  rate: number;
  /** The bake at each traffic step of the measured rollout. */
  bake: string;
  /** Alerts during a traffic step on the real host (each a rollout and a revert). */
  hostAlertRuns: number;
  /** Simulated hosts of the fleet figure. */
  simHosts: number;
  /** Alerts on the simulated fleet. */
  simRuns: number;
  /** Length of each phase of the reload figure (phases alternate: none, reloads, none, reloads...). */
  phaseMs: number;
  phases: number;
  /** A reload every this long in the reloading phases. */
  reloadEveryMs: number;
}

export async function trafficFigures(ctx: BenchContext, opts: TrafficOptions, rows: FigureRow[]): Promise<void> {
  if (!(await nginxAvailable())) throw new Error('nginx is not installed: run scripts/ensure-deps.sh --bench');
  await reloadFigures(ctx, opts, rows);
  await realHostFigures(ctx, opts, rows);
  await simFleetFigures(ctx, opts, rows);
}

/** Per version, the send time of the latest request it answered: after a revert, when the new version last got one. */
class LastAnswered {
  readonly sentAtMs = new Map<string, number>();

  readonly record = (a: LoadAnswer): void => {
    if (!a.ok) return;
    const version = (JSON.parse(a.what) as { version: string }).version;
    this.sentAtMs.set(version, Math.max(this.sentAtMs.get(version) ?? 0, a.sentAtMs));
  };
}

function addCounts(a: LoadCounts, b: LoadCounts): LoadCounts {
  const byBody: Record<string, number> = { ...a.byBody };
  for (const [body, n] of Object.entries(b.byBody)) byBody[body] = (byBody[body] ?? 0) + n;
  return { byBody, failed: a.failed + b.failed, total: a.total + b.total };
}

function countsText(w: LoadCounts): string {
  const versions = Object.entries(answersByVersion(w))
    .map(([v, n]) => `${v}: ${fmt.int(n)}`)
    .join(', ');
  return `${fmt.int(w.failed)} of ${fmt.int(w.total)} (${versions})`;
}

function countsData(w: LoadCounts): Record<string, number> {
  return { requests: w.total, failed: w.failed, ...Object.fromEntries(Object.entries(answersByVersion(w)).map(([v, n]) => [`answered ${v}`, n])) };
}

interface SavedApp {
  activeVersion: string | null;
  process: { pid: number } | null;
  traffic?: { weight: number; beside: unknown };
}

const HOST_ID = 'traffic-host';

/**
 * One real agent (the demo app in two slots, nginx driven by the agent) on the bench's control
 * plane (TLS on unless the bench runs --plain), driven through the real `flotilla` CLI.
 */
class RealHost {
  private constructor(
    readonly plane: ControlPlane,
    readonly agent: AgentProcess,
    private readonly dir: string,
    private readonly manifest: Record<string, unknown>,
  ) {}

  static async start(dir: string, opts: { secure: boolean; token: string; ports: readonly [number, number]; agentConfig: string }): Promise<RealHost> {
    const plane = await ControlPlane.start({
      dir: join(dir, 'plane'),
      env: { FLOTILLA_ALERTS_TOKEN: opts.token },
      logLevel: 'warn',
      ...(opts.secure ? { secure: { agentHostIds: [HOST_ID] } } : {}),
    });
    let agent: AgentProcess | undefined;
    try {
      agent = AgentProcess.spawn({
        hostId: HOST_ID,
        natsUrl: plane.nats.url,
        controller: plane.grpc,
        dataDir: join(dir, 'agent'),
        trustedKeys: [plane.releaseKey.pubPath],
        controllerPublicKeys: [plane.controllerKey.pubPath],
        labels: ['role=web'],
        heartbeatInterval: '500ms',
        logLevel: 'warn',
        extraArgs: ['--config', opts.agentConfig],
        env: plane.agentEnv(HOST_ID),
      });
      const host = new RealHost(plane, agent, dir, { traffic: { slots: opts.ports.map((port) => ({ port })) } });
      await waitUntil('the agent to be up', async () => (await hostCounts(plane.httpTarget)).up >= 1, { timeoutMs: WAIT_MS, intervalMs: 100 });
      return host;
    } catch (err) {
      await agent?.stop();
      await plane.stop();
      throw err;
    }
  }

  get dataDir(): string {
    return join(this.dir, 'agent');
  }

  /** `flotilla ARGS` as the bench's operator; throws unless it exits 0. */
  async cli(args: string[]): Promise<string> {
    const r = await runCli(args, { controller: this.plane.grpc, env: this.plane.cliEnv, cwd: this.dir });
    if (r.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}\nagent output tail:\n${this.agent.tail(10)}`);
    return r.stdout;
  }

  /** Builds demo@version (its slots in the manifest), signs it with the release key and pushes it. */
  async push(version: string): Promise<void> {
    const file = await buildDemoAppRelease({ version, outDir: this.dir, manifest: this.manifest });
    await this.cli(['artifact', 'push', file, '--app', 'demo', '--version', version, '--key', this.plane.releaseKey.keyPath]);
  }

  /** What the agent's state.json says of the demo app (what an operator would look at on the host). */
  async saved(): Promise<SavedApp> {
    return JSON.parse(await readFile(join(this.dataDir, 'state.json'), 'utf8')).apps.demo as SavedApp;
  }

  async startTrafficRollout(version: string, traffic: string, bake: string): Promise<string> {
    const out = await this.cli([
      'rollout', 'start', `demo@${version}`, '--canary', '1', '--min-healthy-time', '1s', '--canary-bake', bake, '--traffic', traffic, '--json',
    ]);
    return (JSON.parse(out) as { rollout: Rollout__Output }).rollout.id;
  }

  waitForRollout(id: string, done: (r: Rollout__Output) => boolean): Promise<Rollout__Output> {
    return watchUntil(this.plane.clients.control, id, done, WAIT_MS);
  }

  async stop(): Promise<void> {
    await this.agent.stop();
    await killAppsOf(this.dataDir);
    await this.plane.stop();
  }
}

/** What the alert runs on the real host measured. */
interface HostRuns {
  /** Requests through the traffic rollout (when it ran). */
  rollout?: LoadCounts;
  /** Requests from each alert's POST until the revert settled, summed over the runs. */
  reverted: LoadCounts;
  /** Per run: the figure (the later of the two), the last new-version request's send time and state.json's, each from the POST. */
  runs: { switchMs: number; lastNewMs: number; stateMs: number }[];
}

/**
 * One real host behind Debian's nginx, a load generator through nginx checking every answer the
 * whole time (`rate` a second, one connection each).
 *
 * - With `withRollout`, a good version through `--traffic 10%,50%,100%`: every request from the
 *   rollout's start to the old process's end and nginx's old workers gone, by version, and the
 *   failed ones.
 * - Alerts during a traffic step (the canary at 50%, baking): from just before the webhook POST
 *   until (a) the last request the new version answered was sent, as the load generator saw it,
 *   and (b) the agent's state.json records the stable version at 100% (the balancer accepted the
 *   reload; polled every 5 ms). The figure is the later of the two: a reload only signals nginx,
 *   whose old workers take new connections until the new ones are up. The requests from the POST
 *   until the new release is stopped and nginx settled are the revert's counts; each run checks
 *   that the stable process kept its PID (a weight change, no restart).
 *
 * One host: the slots' ports are in the release's manifest, so one machine holds one host of an
 * app that declares them.
 */
async function realHostRuns(ctx: BenchContext, opts: TrafficOptions, secure: boolean, withRollout: boolean): Promise<HostRuns> {
  const dir = join(ctx.dir, `traffic-host-${secure ? 'tls' : 'plain'}`);
  await mkdir(dir, { recursive: true });
  const token = randomBytes(24).toString('hex');
  const ports: [number, number] = [await freePort(), await freePort()];
  const front = await startSlotsNginx(dir, 'demo', ports);
  let host: RealHost | undefined;
  let load: LoadGenerator | undefined;
  try {
    const agentConfig = await front.writeAgentConfig(join(dir, 'agent.yaml'), { drainWait: '500ms' });
    ctx.log(`traffic: one real host behind nginx (${secure ? 'TLS on' : 'plaintext'}), demo@1.0.0`);
    host = await RealHost.start(dir, { secure, token, ports, agentConfig });
    const h = host;
    await h.push('1.0.0');
    await h.cli(['deploy', 'demo@1.0.0', '--wait-timeout', '120s']);
    const last = new LastAnswered();
    load = LoadGenerator.start(front.nginx.url(''), { ratePerSecond: opts.rate, onAnswer: last.record });
    const l = load;
    await l.next(opts.rate / 2, WAIT_MS);

    let stable = '1.0.0';
    let rollout: LoadCounts | undefined;
    if (withRollout) {
      await h.push('2.0.0');
      const oldPid = (await h.saved()).process?.pid;
      const before = l.counts();
      ctx.log(`traffic: demo@2.0.0 --traffic 10%,50%,100% (bake ${opts.bake}) under ${opts.rate} requests/s`);
      const id = await h.startTrafficRollout('2.0.0', '10%,50%,100%', opts.bake);
      const done = await h.waitForRollout(id, isEnded);
      if (done.status !== 'succeeded') throw new Error(`the traffic rollout of 2.0.0 ended ${done.status}: ${done.end_reason}`);
      if (oldPid !== undefined) await waitUntil('the 1.0.0 process to end', () => !alive(oldPid), { timeoutMs: WAIT_MS });
      await front.settled(WAIT_MS);
      rollout = LoadGenerator.between(before, l.counts());
      stable = '2.0.0';
      ctx.log(`traffic: rollout: failed ${countsText(rollout)}`);
    }

    // Alerts while a new version takes half of the requests beside the stable one.
    const runs: HostRuns['runs'] = [];
    let reverted: LoadCounts = { byBody: {}, failed: 0, total: 0 };
    for (let run = 1; run <= opts.hostAlertRuns; run++) {
      const next = `3.0.${run}`;
      await h.push(next);
      const stablePid = (await h.saved()).process?.pid;
      const rid = await h.startTrafficRollout(next, '50%,100%', '1h');
      await waitUntil(`${next} at 50%`, async () => {
        const s = await h.saved();
        return s.activeVersion === next && s.traffic?.weight === 50;
      }, { timeoutMs: WAIT_MS, intervalMs: 50 });
      await front.settled(WAIT_MS);
      const w = await l.next(opts.rate / 2, WAIT_MS);
      if ((answersByVersion(w)[next] ?? 0) === 0) throw new Error(`${next} at 50% answered none of ${w.total} requests`);

      const countsBefore = l.counts();
      const t0 = Date.now();
      const applied = waitUntil('the stable version at 100% in state.json', async () => {
        const s = await h.saved().catch(() => undefined);
        return s?.activeVersion === stable && s.traffic?.weight === 100 ? Date.now() : undefined;
      }, { timeoutMs: WAIT_MS, intervalMs: 5 });
      // Awaited below; a failed POST must not leave it to reject unobserved.
      applied.catch(() => undefined);
      const reply = await fireAlertmanager(h.plane.httpTarget, token, 'demo', { alertname: 'BenchErrorRate', summary: 'error rate above threshold (benchmark)' });
      if (reply.status !== 202) throw new Error(`the Alertmanager webhook answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      const stateMs = (await applied) - t0;
      const ended = await h.waitForRollout(rid, isEnded);
      if (ended.status !== 'reverted') throw new Error(`the rollout of ${next} ended ${ended.status} after the alert, not reverted`);
      await waitUntil(`${next} stopped beside ${stable}`, async () => (await h.saved()).traffic?.beside === null, { timeoutMs: WAIT_MS, intervalMs: 50 });
      await front.settled(WAIT_MS);
      // Long enough after the switch that a request still reaching the new version would show.
      const after = await l.next(opts.rate / 2, WAIT_MS);
      const stray = answersByVersion(after)[next] ?? 0;
      if (stray > 0) throw new Error(`${next} still answered ${stray} requests after the revert settled`);
      const pid = (await h.saved()).process?.pid;
      if (pid !== stablePid) throw new Error(`the revert restarted ${stable} (pid ${stablePid} → ${pid}); it should only move the weight`);
      const window = LoadGenerator.between(countsBefore, l.counts());
      reverted = addCounts(reverted, window);
      const lastNewMs = Math.max(0, (last.sentAtMs.get(next) ?? t0) - t0);
      runs.push({ switchMs: Math.max(stateMs, lastNewMs), lastNewMs, stateMs });
      ctx.log(
        `traffic: alert ${run}/${opts.hostAlertRuns} (${secure ? 'TLS' : 'plain'}): last request to ${next} sent ${lastNewMs} ms after the POST; ` +
          `state.json at 100% on ${stable} after ${stateMs} ms; ${window.failed} failed of ${window.total}`,
      );
    }
    return { ...(rollout ? { rollout } : {}), reverted, runs };
  } finally {
    await load?.stop();
    await host?.stop();
    await front.nginx.stop();
  }
}

/** The real-host rows: TLS on as shipped (or plain with --plain), with plaintext as the alert's baseline. */
async function realHostFigures(ctx: BenchContext, opts: TrafficOptions, rows: FigureRow[]): Promise<void> {
  const shipped = await realHostRuns(ctx, opts, ctx.secure, true);
  const rollout = shipped.rollout as LoadCounts;
  rows.push({
    id: 'traffic-rollout',
    group: 'traffic',
    figure: 'traffic: failed requests, rollout --traffic 10%,50%,100% (1 host, nginx)',
    value: countsText(rollout),
    baseline: '—',
    ratio: '—',
    target: '0 failed',
    met: rollout.failed === 0 && (answersByVersion(rollout)['2.0.0'] ?? 0) > 0,
    data: { ...countsData(rollout), ratePerSecond: opts.rate, bake: opts.bake, secure: ctx.secure },
  });
  rows.push({
    id: 'traffic-revert',
    group: 'traffic',
    figure: `traffic: failed requests, alert at 50% → revert (1 host, nginx, ${shipped.runs.length} runs)`,
    value: countsText(shipped.reverted),
    baseline: '—',
    ratio: '—',
    target: '0 failed',
    met: shipped.reverted.failed === 0,
    data: { ...countsData(shipped.reverted), runs: shipped.runs.length, ratePerSecond: opts.rate, secure: ctx.secure },
  });

  let plain: HostRuns | undefined;
  const notes = [`at ${opts.rate} requests/s half of them to the new version, the load generator sees the switch to within ~${Math.ceil(2000 / opts.rate)} ms`];
  // --quick checks that the figures come out; the baseline would double the time it takes.
  if (ctx.secure && ctx.quick) notes.push('the plaintext baseline is not measured with --quick');
  if (ctx.secure && !ctx.quick) {
    try {
      plain = await realHostRuns(ctx, opts, false, false);
    } catch (err) {
      notes.push(`the plaintext baseline failed: ${firstLine(err)}`);
    }
  }
  const worst = (r: HostRuns) => Math.max(...r.runs.map((x) => x.switchMs));
  const value = worst(shipped);
  rows.push({
    id: 'traffic-alert-host',
    group: 'traffic',
    figure: `traffic: alert → 100% on stable, 1 host behind nginx (worst of ${shipped.runs.length})`,
    value:
      `${fmt.ms(value)} (last new-version request ${fmt.ms(Math.max(...shipped.runs.map((x) => x.lastNewMs)))}, ` +
      `state ${fmt.ms(Math.max(...shipped.runs.map((x) => x.stateMs)))})${ctx.secure ? ', TLS' : ', plaintext'}`,
    baseline: plain ? `${fmt.ms(worst(plain))} plaintext` : ctx.secure ? 'n/a' : '—',
    ratio: plain ? fmt.ratio(worst(plain) / value) : '—',
    target: `< ${HOST_SWITCH_TARGET_MS} ms`,
    met: value < HOST_SWITCH_TARGET_MS,
    data: {
      secure: ctx.secure,
      runs: shipped.runs.length,
      worstMs: value,
      p50Ms: percentile(shipped.runs.map((x) => x.switchMs), 50),
      lastNewRequestMs: shipped.runs.map((x) => x.lastNewMs).join(','),
      stateAppliedMs: shipped.runs.map((x) => x.stateMs).join(','),
      plainWorstMs: plain ? worst(plain) : null,
      plainMs: plain ? plain.runs.map((x) => x.switchMs).join(',') : null,
      plainFailed: plain ? plain.reverted.failed : null,
      ratePerSecond: opts.rate,
    },
    notes,
  });
}

/** CPU time of this process's children that have ended and been waited for (cutime + cstime), in seconds. */
function endedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

/**
 * The controller with a simulated fleet whose hosts serve the app from two slots: each applies
 * the weight it is assigned at once and reports it in its heartbeat (`trafficWeight`), as an
 * agent does once nginx took the reload, so what is timed is the controller's work and the
 * messages. Each run puts a new version beside the stable one on every host at 50% (a canary of
 * 100% baking for an hour), then POSTs an Alertmanager notification for the app, timed until the
 * last host's heartbeat reports the stable version at weight 100 (the simulator's clock, the
 * same machine's).
 */
async function simRuns(ctx: BenchContext, opts: TrafficOptions, secure: boolean): Promise<{ times: number[]; cpu: number[]; notes: string[] }> {
  const app = 'web';
  const token = randomBytes(24).toString('hex');
  const hostIds = Array.from({ length: opts.simHosts }, (_, i) => `sim-${String(i).padStart(5, '0')}`);
  const plane = await ControlPlane.start({
    dir: join(ctx.dir, `traffic-sim-${secure ? 'tls' : 'plain'}`),
    env: { FLOTILLA_ALERTS_TOKEN: token },
    ...(secure ? { secure: { simHostIds: hostIds } } : {}),
  });
  let sim: SimFleetProcess | undefined;
  try {
    sim = await SimFleetProcess.start(
      { natsUrl: plane.nats.url, ...(plane.simNats ? { natsAuth: plane.simNats } : {}), heartbeatIntervalMs: 1000, installDelayMs: 0 },
      opts.simHosts,
    );
    const specs: SimHostSpec[] = hostIds.map((hostId, i) => ({ hostId, labels: { zone: 'abc'[i % 3] as string, env: 'bench' }, trafficSlots: true }));
    ctx.log(`traffic: ${fmt.int(opts.simHosts)} simulated hosts with two slots each (${secure ? 'TLS on' : 'plaintext'})`);
    await sim.call('addHosts', specs, { perSecond: 5000 });
    await waitUntil(`${opts.simHosts} hosts up`, async () => (await hostCounts(plane.httpTarget)).up >= opts.simHosts, { timeoutMs: WAIT_MS, intervalMs: 200 });
    const control = plane.clients.control;
    await pushRelease(plane, ctx, '1.0.0', app);
    const first = await startQueuedRollout(control, { app, version: '1.0.0', steps: '100%', min_healthy_time: '0s' });
    await watchUntil(control, first.id, (r) => r.status === 'succeeded', WAIT_MS);

    const times: number[] = [];
    const cpu: number[] = [];
    const notes: string[] = [];
    for (let run = 1; run <= opts.simRuns; run++) {
      const version = `2.0.${run}`;
      try {
        await pushRelease(plane, ctx, version, app);
        const runStart = Date.now();
        const rollout = await startQueuedRollout(control, {
          app,
          version,
          canary: '100%',
          traffic: '50%',
          canary_bake: '1h',
          min_healthy_time: '0s',
        });
        const at50 = await sim.call('waitForActivations', app, version, runStart, { timeoutMs: WAIT_MS, trafficWeight: 50 });
        if (at50.missing.length > 0) throw new Error(`${at50.missing.length} hosts had not reported ${version} at 50% after ${WAIT_MS / 1000} s`);
        const t0 = Date.now();
        const cpuBefore = cpuSeconds(plane.pid);
        const answer = await fireAlertmanager(plane.httpTarget, token, app, { alertname: 'BenchErrorRate', summary: 'error rate above threshold (benchmark)' });
        if (answer.status >= 300) throw new Error(`the Alertmanager webhook answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        const back = await sim.call('waitForActivations', app, '1.0.0', t0, { timeoutMs: WAIT_MS, trafficWeight: 100 });
        if (back.missing.length > 0) throw new Error(`${back.missing.length} hosts had not reported 1.0.0 at 100% after ${WAIT_MS / 1000} s`);
        cpu.push(cpuSeconds(plane.pid) - cpuBefore);
        await watchUntil(control, rollout.id, (r) => isEnded(r), WAIT_MS);
        times.push(Math.max(...back.times) - t0);
        ctx.log(`traffic: alert ${run}/${opts.simRuns} (${secure ? 'TLS' : 'plain'}): every simulated host on 1.0.0 at 100% after ${fmt.ms(times[times.length - 1] as number)}`);
      } catch (err) {
        notes.push(`run ${run} failed: ${firstLine(err)}`);
        break;
      }
    }
    return { times, cpu, notes };
  } finally {
    await sim?.close();
    await plane.stop();
  }
}

/**
 * StartRollout; when the leader is too busy to answer in time the call says the command is
 * queued and will be carried out, and then the rollout it starts is the answer.
 */
async function startQueuedRollout(control: ControlClient, input: { app: string; version: string } & Record<string, string | boolean>): Promise<Rollout__Output> {
  const since = Date.now();
  try {
    return await startRollout(control, input);
  } catch (err) {
    if (!/is queued/.test(firstLine(err))) throw err;
    return waitUntil(`the queued rollout of ${input.app}@${input.version}`, async () => {
      const r = await unaryCall<{ app: string }, { rollout: Rollout__Output | null }>(control, 'GetRollout', { app: input.app }).catch(() => undefined);
      const rollout = r?.rollout;
      return rollout && rollout.version === input.version && Number(rollout.created_at_ms) >= since - 1000 ? rollout : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
  }
}

/** The fleet row: TLS on as shipped (or plain with --plain), with plaintext as its baseline. */
async function simFleetFigures(ctx: BenchContext, opts: TrafficOptions, rows: FigureRow[]): Promise<void> {
  let shipped: Awaited<ReturnType<typeof simRuns>>;
  try {
    shipped = await simRuns(ctx, opts, ctx.secure);
  } catch (err) {
    // The row still says what failed, beside the plaintext figure measured next.
    shipped = { times: [], cpu: [], notes: [`the ${ctx.secure ? 'TLS' : 'plaintext'} run failed: ${firstLine(err)}`] };
    ctx.log(`traffic: simulated fleet failed: ${firstLine(err)}`);
  }
  const notes = [...shipped.notes];
  let plain: Awaited<ReturnType<typeof simRuns>> | undefined;
  if (ctx.secure && ctx.quick) notes.push('the plaintext baseline is not measured with --quick');
  if (ctx.secure && !ctx.quick) {
    try {
      plain = await simRuns(ctx, opts, false);
      notes.push(...plain.notes.map((n) => `plaintext baseline: ${n}`));
    } catch (err) {
      notes.push(`the plaintext baseline failed: ${firstLine(err)}`);
    }
  }
  const { times, cpu } = shipped;
  const p99 = percentile(times, 99);
  const plainP99 = plain && plain.times.length > 0 ? percentile(plain.times, 99) : NaN;
  rows.push({
    id: 'traffic-alert-fleet',
    group: 'traffic',
    figure: `traffic: alert → stable at 100%, ${fmt.int(opts.simHosts)} simulated hosts (p99 of ${times.length})`,
    value: times.length > 0 ? `${fmt.ms(p99)} (p50 ${fmt.ms(percentile(times, 50))}; controller CPU ${percentile(cpu, 50).toFixed(2)} s a revert)${ctx.secure ? ', TLS' : ', plaintext'}` : `failed${ctx.secure ? ' (TLS on)' : ''}`,
    baseline: plain && plain.times.length > 0 ? `${fmt.ms(plainP99)} (CPU ${percentile(plain.cpu, 50).toFixed(2)} s) plaintext` : ctx.secure ? 'n/a' : '—',
    ratio: plain && plain.times.length > 0 ? fmt.ratio(plainP99 / p99) : '—',
    target: `< ${fmt.s(FLEET_SWITCH_TARGET_MS)}`,
    met: times.length === opts.simRuns ? p99 < FLEET_SWITCH_TARGET_MS : false,
    data: {
      secure: ctx.secure,
      hosts: opts.simHosts,
      runs: times.length,
      p99Ms: p99,
      p50Ms: percentile(times, 50),
      timesMs: times.map((t) => Math.round(t)).join(','),
      // utime + stime from the POST until the last host reported: the part the machine's load does not inflate.
      controllerCpuP50S: percentile(cpu, 50),
      controllerCpuS: cpu.map((c) => c.toFixed(2)).join(','),
      plainP99Ms: plainP99,
      plainTimesMs: plain ? plain.times.map((t) => Math.round(t)).join(',') : null,
      plainControllerCpuP50S: plain ? percentile(plain.cpu, 50) : null,
    },
    ...(notes.length > 0 ? { notes } : {}),
  });
}

/**
 * nginx in front of two static backends (nginx too, so that the app adds nothing of its own),
 * the upstream file the agent's own NginxUpstreams writes, and the load generator through it.
 * Phases alternate: no reloads, then a weight change (90/10 ↔ 10/90: write, nginx -t, reload,
 * as the agent does) every `reloadEveryMs`; each request's latency counts in the phase it was
 * sent in. The baseline is the phases without reloads, in the same run.
 */
async function reloadFigures(ctx: BenchContext, opts: TrafficOptions, rows: FigureRow[]): Promise<void> {
  const app = 'bench';
  const dir = join(ctx.dir, 'traffic-reload');
  const backends: Nginx[] = [];
  let front: SlotsNginx | undefined;
  let load: LoadGenerator | undefined;
  try {
    // nginx's workers run as its own user when the bench runs as root: they must reach the roots.
    await mkdir(dir, { recursive: true });
    for (const d of [ctx.dir, dir]) await chmod(d, 0o711);
    for (const slot of ['a', 'b']) {
      const root = join(dir, `backend-${slot}`, 'root');
      await mkdir(root, { recursive: true });
      await writeFile(join(root, 'index.html'), JSON.stringify({ app, version: slot }));
      backends.push(await Nginx.start(join(dir, `backend-${slot}`), root));
    }
    front = await startSlotsNginx(dir, app, [backends[0]!.port, backends[1]!.port]);
    const upstreams = new NginxUpstreams(
      { nginx: { includeDir: front.includeDir, testCommand: front.nginx.testCommand, reloadCommand: front.nginx.reloadCommand, commandTimeoutMs: 30_000 }, stickiness: 'none', keepalive: 16 },
      createLogger({ name: 'bench', level: 'silent' }),
    );
    const weights = (a: number): SlotWeight[] => [
      { slot: 'a', address: `127.0.0.1:${backends[0]!.port}`, weight: a },
      { slot: 'b', address: `127.0.0.1:${backends[1]!.port}`, weight: 100 - a },
    ];
    await upstreams.apply(app, weights(90));
    await front.settled(WAIT_MS);

    type Phase = 'warm-up' | 'steady' | 'reloading';
    // When each phase began, latest last: a request counts in the phase it was sent in.
    const phases: { startMs: number; phase: Phase }[] = [{ startMs: 0, phase: 'warm-up' }];
    const phaseAt = (ms: number): Phase => {
      for (let i = phases.length - 1; i >= 0; i--) if ((phases[i] as { startMs: number }).startMs <= ms) return (phases[i] as { phase: Phase }).phase;
      return 'warm-up';
    };
    const latency = { steady: [] as number[], reloading: [] as number[] };
    const failed = { steady: 0, reloading: 0 };
    load = LoadGenerator.start(front.nginx.url(''), {
      ratePerSecond: opts.rate,
      onAnswer: (answer) => {
        const p = phaseAt(answer.sentAtMs);
        if (p === 'warm-up') return;
        latency[p].push(answer.ms);
        if (!answer.ok) failed[p]++;
      },
    });
    await delay(Math.min(1000, opts.phaseMs));

    const reloadMs: number[] = [];
    let reloadCpuS = 0;
    let a = 90;
    ctx.log(`traffic: nginx reload cost, ${opts.phases} phases of ${fmt.s(opts.phaseMs)}, a reload every ${opts.reloadEveryMs} ms in every other one, ${opts.rate} requests/s`);
    for (let i = 0; i < opts.phases; i++) {
      const phase: Phase = i % 2 === 0 ? 'steady' : 'reloading';
      phases.push({ startMs: Date.now(), phase });
      const ends = Date.now() + opts.phaseMs;
      if (phase === 'steady') {
        await delay(opts.phaseMs);
        continue;
      }
      while (Date.now() < ends) {
        const began = performance.now();
        const cpuBefore = endedChildrenCpuSeconds();
        a = 100 - a;
        await upstreams.apply(app, weights(a));
        const took = performance.now() - began;
        reloadCpuS += endedChildrenCpuSeconds() - cpuBefore;
        reloadMs.push(took);
        await delay(Math.max(0, Math.min(opts.reloadEveryMs - took, ends - Date.now())));
      }
    }
    await load.stop();
    const steadyP = { p50: percentile(latency.steady, 50), p99: percentile(latency.steady, 99) };
    const reloadP = { p50: percentile(latency.reloading, 50), p99: percentile(latency.reloading, 99) };
    const p99Ratio = steadyP.p99 / reloadP.p99;
    rows.push({
      id: 'traffic-reload-latency',
      group: 'traffic',
      figure: `traffic: latency through nginx with a reload every ${opts.reloadEveryMs} ms (p50 / p99)`,
      value: `${fmt.ms(reloadP.p50)} / ${fmt.ms(reloadP.p99)}, ${fmt.int(failed.reloading)} failed of ${fmt.int(latency.reloading.length)}`,
      baseline: `${fmt.ms(steadyP.p50)} / ${fmt.ms(steadyP.p99)} without reloads, ${fmt.int(failed.steady)} failed`,
      ratio: fmt.ratio(p99Ratio),
      // What a reload must not do is fail a request; what it costs the others is the ratio.
      target: '0 failed',
      met: failed.reloading === 0 && latency.reloading.length > 0,
      data: {
        reloads: reloadMs.length,
        ratePerSecond: opts.rate,
        reloadingRequests: latency.reloading.length,
        reloadingFailed: failed.reloading,
        reloadingP50Ms: reloadP.p50,
        reloadingP99Ms: reloadP.p99,
        steadyRequests: latency.steady.length,
        steadyFailed: failed.steady,
        steadyP50Ms: steadyP.p50,
        steadyP99Ms: steadyP.p99,
      },
    });
    rows.push({
      id: 'traffic-reload',
      group: 'traffic',
      figure: `traffic: one weight change: write, nginx -t, reload (p50 of ${reloadMs.length})`,
      value: `${fmt.ms(percentile(reloadMs, 50))} (p99 ${fmt.ms(percentile(reloadMs, 99))}; nginx -t + nginx -s reload CPU ${fmt.ms((reloadCpuS / Math.max(1, reloadMs.length)) * 1000)})`,
      baseline: '—',
      ratio: '—',
      target: `< ${RELOAD_TARGET_MS} ms`,
      met: reloadMs.length > 0 && percentile(reloadMs, 50) < RELOAD_TARGET_MS,
      data: {
        reloads: reloadMs.length,
        p50Ms: percentile(reloadMs, 50),
        p99Ms: percentile(reloadMs, 99),
        maxMs: Math.max(...reloadMs),
        // The two commands' own CPU (utime + stime of the ended processes), not the nginx master's re-read of its config.
        commandsCpuMsEach: (reloadCpuS / Math.max(1, reloadMs.length)) * 1000,
      },
    });
    ctx.log(`traffic: reload: ${rows[rows.length - 1]!.value}; latency ${rows[rows.length - 2]!.value} vs ${rows[rows.length - 2]!.baseline}`);
  } finally {
    await load?.stop();
    await front?.nginx.stop();
    for (const b of backends) await b.stop();
  }
}
