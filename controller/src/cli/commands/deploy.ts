import type {
  AppStatus__Output,
  HostAssignment__Output,
  HostInfo__Output,
  Rollout__Output,
  RolloutHost__Output,
} from '@flotilla/proto';
import {
  ControllerError,
  NotFoundError,
  UnavailableError,
  ValidationError,
  formatDuration,
  parseAppVersion,
  parseDuration,
  parseSelector,
} from '@flotilla/shared';
import type { ControllerClient } from '../client.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError, runVerb } from '../errors.js';
import { formatList, paint, plural, renderTable, toJson, toNumber, useColour } from '../format.js';
import { actorOf, resolveGlobals, withController, type GlobalOptions, type RawGlobalOptions } from '../options.js';
import { isFinishedStatus } from './rollout-view.js';

export interface DeployOptions extends RawGlobalOptions {
  /** `APP@VERSION`. */
  target: string;
  /** Label selector; empty selects every host. */
  selector?: string | undefined;
  /** How long to wait for every host to converge; also the rollout's healthy deadline. @default '5m' */
  waitTimeout?: string | undefined;
  /** Wait for convergence (commander's `--no-wait` sets false). @default true */
  wait?: boolean | undefined;
  /** Deploy a version marked bad all the same. */
  force?: boolean | undefined;
}

export const DEFAULT_WAIT_TIMEOUT = '5m';
/** How often deploy asks the controller for status while it waits. */
export const POLL_INTERVAL_MS = 500;

/**
 * Where one assigned host stands on the way to the target version, in the order a deploy moves
 * through them. The summary line lists them in this order.
 */
export type HostProgressState =
  /** Target version active, install settled, process running, health check passing. */
  | 'healthy'
  /** Downloading, verifying, unpacking or activating the target version. */
  | 'installing'
  /** Target version active; the process is starting or its health is not known yet. */
  | 'starting'
  /** Target version active and running, but the health check fails. */
  | 'unhealthy'
  /** Target version active; the process keeps exiting (back-off or crash loop). */
  | 'crashing'
  /** The host has not started on the target version yet (or has not reported since). */
  | 'pending'
  /** The controller marked the host down (missed heartbeats). */
  | 'down'
  /** The host reports that installing the target version failed. */
  | 'failed';

const STATE_ORDER: readonly HostProgressState[] = [
  'healthy',
  'installing',
  'starting',
  'unhealthy',
  'crashing',
  'pending',
  'down',
  'failed',
];

export interface HostProgress {
  readonly hostId: string;
  readonly state: HostProgressState;
  /** The host as the rollout last saw it. */
  readonly host?: RolloutHost__Output | undefined;
}

export interface Convergence {
  readonly hosts: readonly HostProgress[];
  readonly counts: Readonly<Record<HostProgressState, number>>;
  /** The rollout succeeded: every host runs the version healthy. */
  readonly converged: boolean;
  /** The rollout ended without succeeding. */
  readonly ended: boolean;
  readonly failed: readonly HostProgress[];
}

const INSTALLING = new Set(['downloading', 'verifying', 'unpacking', 'activating']);

/** Where one host stands, from its status as `flotilla status` shows it. Pure. */
export function classifyHost(
  host: HostInfo__Output | undefined,
  appName: string,
  version: string,
): HostProgressState {
  const a = host?.apps.find((s) => s.app === appName);
  if (!host || !a) return host?.state === 'down' ? 'down' : 'pending';
  // A failure of some other version's install (before this assignment arrived) is not ours.
  const aboutTarget = a.install_version ? a.install_version === version : a.desired_version === version;
  return classifyReport(a, version, aboutTarget, host.state === 'down');
}

function classifyReport(
  a: Pick<AppStatus__Output, 'install_phase' | 'active_version' | 'process_state' | 'health'>,
  version: string,
  aboutTarget: boolean,
  down: boolean,
): HostProgressState {
  const phase = a.install_phase || 'idle';
  if (phase === 'failed' && aboutTarget) return 'failed';
  if (
    a.active_version === version &&
    (phase === 'done' || phase === 'idle') &&
    a.process_state === 'running' &&
    a.health === 'healthy'
  ) {
    return 'healthy';
  }
  if (down) return 'down';
  if (INSTALLING.has(phase) && aboutTarget) return 'installing';
  if (a.active_version === version) {
    if (a.process_state === 'backoff' || a.process_state === 'crash-loop' || a.process_state === 'exited') {
      return 'crashing';
    }
    if (a.process_state === 'running' && a.health === 'unhealthy') return 'unhealthy';
    return 'starting';
  }
  return 'pending';
}

/** Where one host of the deploy's rollout stands. Pure. */
export function classifyRolloutHost(h: RolloutHost__Output, version: string): HostProgressState {
  if (h.state === 'passed') return 'healthy';
  if (h.state === 'failed') return 'failed';
  if (h.state === 'pending' || h.state === 'skipped') return h.down ? 'down' : 'pending';
  const r = h.last_report;
  if (!r) return h.down ? 'down' : 'pending';
  // The host was told to install the target: an install in progress is about it.
  return classifyReport(r, version, true, h.down);
}

/** Where every host of the deploy's rollout stands, and whether it is done. Pure. */
export function evaluateRollout(rollout: Rollout__Output): Convergence {
  const counts = Object.fromEntries(STATE_ORDER.map((s) => [s, 0])) as Record<HostProgressState, number>;
  const hosts = [...rollout.hosts]
    .sort((a, b) => (a.host_id < b.host_id ? -1 : 1))
    .map((h): HostProgress => {
      const state = classifyRolloutHost(h, rollout.version);
      counts[state]++;
      return { hostId: h.host_id, state, host: h };
    });
  return {
    hosts,
    counts,
    converged: rollout.status === 'succeeded',
    ended: isFinishedStatus(rollout.status) && rollout.status !== 'succeeded',
    failed: hosts.filter((h) => h.state === 'failed'),
  };
}

/** `3/5 healthy, 1 installing, 1 failed`. */
export function progressLine(c: Pick<Convergence, 'counts' | 'hosts'>): string {
  const parts = [`${c.counts.healthy}/${c.hosts.length} healthy`];
  for (const s of STATE_ORDER) if (s !== 'healthy' && c.counts[s] > 0) parts.push(`${c.counts[s]} ${s}`);
  return parts.join(', ');
}

type DeployResult = 'converged' | 'failed' | 'timeout' | 'assigned';

/**
 * `flotilla deploy APP@VERSION`: a rollout of one step of 100% (every selected host at once, no
 * revert). Waits until each host runs the version healthy; a host that fails (install, crash,
 * silence) or the wait timeout ends it with exit 1.
 */
export async function deploy(opts: DeployOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const { app, version } = parseAppVersion(opts.target);
    const selector = (opts.selector ?? '').trim();
    parseSelector(selector);
    const waitText = opts.waitTimeout ?? DEFAULT_WAIT_TIMEOUT;
    const waitMs = parseDuration(waitText, '--wait-timeout');
    if (waitMs <= 0) throw new ValidationError('--wait-timeout must be longer than zero');

    return withController(ctx, globals, async (client) => {
      const started = ctx.now();
      const response = await client.deploy({
        app,
        version,
        selector,
        healthy_deadline: waitText,
        actor: actorOf(ctx.env),
        force: opts.force === true,
      });
      const assigned = [...response.assigned].sort((a, b) => (a.host_id < b.host_id ? -1 : 1));
      if (assigned.length === 0) {
        throw new NotFoundError(
          selector
            ? `no host matches selector "${selector}"; ${app}@${version} was not assigned anywhere`
            : `no hosts are known to the controller; ${app}@${version} was not assigned anywhere`,
        );
      }
      const say = globals.json ? ctx.err : ctx.out;
      say.write(
        `assigned ${app}@${version} to ${plural(assigned.length, 'host')}: ${formatList(assigned.map((a) => a.host_id))}\n`,
      );
      const rolloutId = response.rollout_id;
      if (opts.wait === false) {
        if (globals.json) ctx.out.write(toJson(summary(app, version, selector, rolloutId, 'assigned', 0, assigned, [])));
        return EXIT.OK;
      }
      if (!rolloutId) {
        throw new ControllerError('FLOTILLA_ERR_INTERNAL', 'the controller did not say which rollout carries the deploy (is it older than this CLI?)', 'OK');
      }
      return waitForRollout({ ctx, globals, client, app, version, selector, rolloutId, assigned, started, waitMs });
    });
  });
}

interface WaitInput {
  ctx: CliContext;
  globals: GlobalOptions;
  client: ControllerClient;
  app: string;
  version: string;
  selector: string;
  rolloutId: string;
  assigned: readonly HostAssignment__Output[];
  started: number;
  waitMs: number;
}

async function waitForRollout(w: WaitInput): Promise<number> {
  const { ctx, app, version } = w;
  const target = `${app}@${version}`;
  const colour = useColour(ctx);
  // On a terminal one line is rewritten in place; in a CI log each change gets its own line.
  const live = ctx.isTTY && !w.globals.json;
  const progressOut = w.globals.json ? ctx.err : ctx.out;
  const deadline = w.started + w.waitMs;
  // The clock bounds the wait; the poll count bounds it too, whatever the clock does.
  const maxPolls = Math.ceil(w.waitMs / POLL_INTERVAL_MS) + 1;

  let last: Convergence | undefined;
  let lastRollout: Rollout__Output | undefined;
  let lastLine = '';
  let unreachable: UnavailableError | undefined;
  const endLive = (): void => {
    if (live && lastLine) progressOut.write('\n');
  };

  for (let poll = 0; poll < maxPolls; poll++) {
    let rollout: Rollout__Output | undefined;
    try {
      rollout = (await w.client.getRollout({ id: w.rolloutId })).rollout ?? undefined;
      unreachable = undefined;
    } catch (err) {
      // A controller restarting mid-deploy is not a failed deploy: keep asking until the deadline.
      if (!(err instanceof UnavailableError)) throw err;
      if (!unreachable) {
        endLive();
        lastLine = '';
        ctx.err.write(`warning: ${err.message}; still trying\n`);
      }
      unreachable = err;
    }

    if (rollout) {
      const c = evaluateRollout(rollout);
      last = c;
      lastRollout = rollout;
      const line = progressLine(c);
      const elapsed = formatDuration(ctx.now() - w.started);
      if (live) {
        progressOut.write(`\r\u001b[2K${line} (${elapsed})`);
      } else if (line !== lastLine) {
        progressOut.write(`${line} (${elapsed})\n`);
      }
      if (live || line !== lastLine) lastLine = line;

      if (c.ended) {
        endLive();
        for (const f of c.failed) {
          ctx.err.write(`error: ${target} failed on host ${f.hostId}: ${f.host?.failure_reason || 'failed'}\n`);
        }
        if (c.failed.length === 0) ctx.err.write(`error: ${target}: rollout ${rollout.id} ended ${rollout.status}: ${rollout.end_reason}\n`);
        if (w.globals.json) ctx.out.write(toJson(finalSummary(w, 'failed', c)));
        return EXIT.FAILED;
      }
      if (c.converged) {
        endLive();
        const took = formatDuration(ctx.now() - w.started);
        if (w.globals.json) ctx.out.write(toJson(finalSummary(w, 'converged', c)));
        else {
          ctx.out.write(
            `${paint(target, 'bold', colour)} is running and healthy on ${c.hosts.length}/${c.hosts.length} hosts (${took})\n`,
          );
        }
        return EXIT.OK;
      }
    }

    const remaining = deadline - ctx.now();
    if (remaining <= 0) break;
    await ctx.sleep(Math.min(POLL_INTERVAL_MS, remaining));
  }

  endLive();
  if (unreachable && !last) return reportError(ctx, unreachable);
  const waited = formatDuration(w.waitMs);
  if (unreachable) {
    ctx.err.write(`error: timed out after ${waited} waiting for ${target}; the controller stopped answering: ${unreachable.message}\n`);
    if (w.globals.json && last) ctx.out.write(toJson(finalSummary(w, 'timeout', last)));
    return EXIT.UNREACHABLE;
  }
  const c = last as Convergence;
  const behind = c.hosts.filter((h) => h.state !== 'healthy');
  ctx.err.write(
    `error: timed out after ${waited} waiting for ${target}: ${c.counts.healthy}/${c.hosts.length} hosts healthy; not there yet:\n`,
  );
  ctx.err.write(laggardsTable(behind, colour));
  if (lastRollout && !isFinishedStatus(lastRollout.status)) {
    ctx.err.write(`rollout ${lastRollout.id} goes on until its healthy deadline (flotilla rollout status ${lastRollout.id})\n`);
  }
  if (w.globals.json) ctx.out.write(toJson(finalSummary(w, 'timeout', c)));
  return EXIT.FAILED;
}

function laggardsTable(hosts: readonly HostProgress[], colour: boolean): string {
  const rows = hosts.map((h) => {
    const r = h.host?.last_report;
    const phase = r?.install_phase || '';
    return [
      h.hostId,
      paint(h.state, h.state === 'failed' || h.state === 'down' || h.state === 'crashing' ? 'bad' : 'warn', colour),
      h.host?.down ? 'down' : 'up',
      r?.active_version || '-',
      phase || '-',
      r?.process_state || '-',
      r?.health || '-',
      h.host?.failure_reason || r?.error || '',
    ];
  });
  return renderTable(['HOST', 'PROGRESS', 'HOST STATE', 'ACTIVE', 'INSTALL', 'PROCESS', 'HEALTH', 'ERROR'], rows, colour);
}

interface HostSummary {
  host_id: string;
  progress: HostProgressState;
  host_state: string;
  rollout_state: string;
  active_version: string;
  install_phase: string;
  process_state: string;
  health: string;
  restarts: number;
  error: string;
}

function summary(
  app: string,
  version: string,
  selector: string,
  rolloutId: string,
  result: DeployResult,
  elapsedMs: number,
  assigned: readonly HostAssignment__Output[],
  hosts: readonly HostProgress[],
): Record<string, unknown> {
  return {
    app,
    version,
    selector,
    rollout_id: rolloutId,
    result,
    elapsed_ms: elapsedMs,
    assigned: assigned.map((a) => ({ host_id: a.host_id, seq: a.seq })),
    hosts: hosts.map(
      (h): HostSummary => ({
        host_id: h.hostId,
        progress: h.state,
        host_state: h.host?.down ? 'down' : 'up',
        rollout_state: h.host?.state ?? '',
        active_version: h.host?.last_report?.active_version ?? '',
        install_phase: h.host?.last_report?.install_phase ?? '',
        process_state: h.host?.last_report?.process_state ?? '',
        health: h.host?.last_report?.health ?? '',
        restarts: toNumber(h.host?.last_report?.restarts),
        error: h.host?.failure_reason || h.host?.last_report?.error || '',
      }),
    ),
  };
}

function finalSummary(w: WaitInput, result: DeployResult, c: Convergence): Record<string, unknown> {
  return summary(w.app, w.version, w.selector, w.rolloutId, result, w.ctx.now() - w.started, w.assigned, c.hosts);
}
