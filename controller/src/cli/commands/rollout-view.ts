import type { Rollout__Output, RolloutHost__Output, RolloutStep__Output, RolloutSummary__Output } from '@flotilla/proto';
import { formatDuration } from '@flotilla/shared';
import type { ControllerClient } from '../client.js';
import type { CliContext, CliOutput } from '../context.js';
import { EXIT } from '../errors.js';
import { formatAgo, paint, plural, renderTable, toNumber, useColour, type Tone } from '../format.js';
import { eventsTable } from './events.js';

/*
 * How a rollout reads on the terminal: the full status view, the live progress view (redrawn in
 * place on a terminal, one plain line per change otherwise), and the watch loop behind
 * `rollout status --watch` and `rollout start --watch`.
 */

export const FINISHED_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'reverted', 'failed', 'aborted']);

export function isFinishedStatus(status: string): boolean {
  return FINISHED_STATUSES.has(status);
}

/** The exit code a finished rollout stands for: only success is 0. */
export function exitCodeOf(rollout: Pick<Rollout__Output, 'status'>): number {
  return rollout.status === 'succeeded' ? EXIT.OK : EXIT.FAILED;
}

export function statusTone(status: string): Tone | undefined {
  switch (status) {
    case 'succeeded':
      return 'good';
    case 'reverted':
    case 'failed':
    case 'aborted':
    case 'reverting':
      return 'bad';
    case 'paused':
    case 'baking':
    case 'stabilising':
      return 'warn';
    default:
      return undefined;
  }
}

function hostTone(state: string): Tone | undefined {
  if (state === 'passed' || state === 'reverted') return 'good';
  if (state === 'failed') return 'bad';
  if (state === 'reverting' || state === 'healthy-wait') return 'warn';
  if (state === 'pending' || state === 'skipped') return 'dim';
  return undefined;
}

export function stepName(index: number): string {
  return index === 0 ? 'canary' : `step ${index + 1}`;
}

const ms = (v: string | number | undefined) => toNumber(v);

/** `running, step 2/3` / `paused after the canary` / `succeeded`. */
export function phaseText(r: Rollout__Output): string {
  if (isFinishedStatus(r.status)) return r.status;
  if (r.status === 'paused' && r.pause_reason === 'canary') return 'paused after the canary (promote to go on)';
  if (r.status === 'reverting') return `reverting to ${r.stable_version}`;
  const step = r.current_step === 0 ? `canary (step 1 of ${r.steps.length})` : `step ${r.current_step + 1} of ${r.steps.length}`;
  return `${r.status}, ${step}`;
}

/** `3/5 passed, 1 in progress, 1 failed` (only the non-zero parts after the first). */
export function countsText(r: Rollout__Output): string {
  const c = r.counters;
  if (!c) return '';
  const parts = [`${c.passed}/${c.hosts} passed`];
  if (c.in_progress) parts.push(`${c.in_progress} in progress`);
  if (c.pending) parts.push(`${c.pending} pending`);
  if (c.failed) parts.push(`${c.failed} failed${c.failed > r.failure_limit ? '' : ` (${r.failure_limit} tolerated)`}`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  if (c.reverting) parts.push(`${c.reverting} reverting`);
  if (c.reverted) parts.push(`${c.reverted} reverted`);
  return parts.join(', ');
}

/** One line: `web-3 web@2.0.0 running, step 2 of 3: 3/5 passed, 1 in progress`. */
export function progressLine(r: Rollout__Output): string {
  return `${r.id} ${r.app}@${r.version} ${phaseText(r)}: ${countsText(r)}`;
}

/** How it ended, for the last line of a watch. */
export function outcomeLine(r: Rollout__Output): string {
  return `rollout ${r.id} ${r.status}: ${r.end_reason || r.status}`;
}

function stepHosts(r: Rollout__Output, step: RolloutStep__Output): RolloutHost__Output[] {
  const ids = new Set(step.host_ids);
  return r.hosts.filter((h) => ids.has(h.host_id));
}

function stepCounts(hosts: readonly RolloutHost__Output[]): { passed: number; failed: number; active: number; pending: number; reverted: number } {
  const c = { passed: 0, failed: 0, active: 0, pending: 0, reverted: 0 };
  for (const h of hosts) {
    if (h.state === 'passed') c.passed++;
    else if (h.state === 'failed') c.failed++;
    else if (h.state === 'assigned' || h.state === 'healthy-wait') c.active++;
    else if (h.state === 'reverting' || h.state === 'reverted') c.reverted++;
    else c.pending++;
  }
  return c;
}

function stepState(r: Rollout__Output, step: RolloutStep__Output): string {
  const now = ms(r.now_ms);
  if (ms(step.passed_at_ms)) {
    const bakeUntil = ms(step.bake_until_ms);
    if (r.status === 'baking' && r.current_step === step.index && bakeUntil > now) return `baking, ${formatDuration(bakeUntil - now)} left`;
    return `passed ${formatAgo(ms(step.passed_at_ms), now)}`;
  }
  if (ms(step.started_at_ms)) return `started ${formatAgo(ms(step.started_at_ms), now)}`;
  return 'not started';
}

/** `#########.........` */
function bar(done: number, failed: number, active: number, total: number, colour: boolean, width = 20): string {
  if (total <= 0) return ' '.repeat(width);
  const cells = (n: number) => Math.round((n / total) * width);
  const d = cells(done);
  const f = Math.min(width - d, cells(failed));
  const a = Math.min(width - d - f, cells(active));
  const rest = width - d - f - a;
  return (
    paint('#'.repeat(d), 'good', colour) +
    paint('x'.repeat(f), 'bad', colour) +
    paint('>'.repeat(a), 'warn', colour) +
    paint('.'.repeat(rest), 'dim', colour)
  );
}

function strategyText(r: Rollout__Output): string {
  const s = r.strategy;
  if (!s) return '';
  const steps = s.kind === 'steps' ? `steps ${s.steps.join(',')}` : `canary ${s.canary}, then batches of ${s.batch}`;
  const bake =
    ms(s.bake_ms) || ms(s.canary_bake_ms)
      ? `; bake ${formatDuration(ms(s.bake_ms))} (canary ${formatDuration(ms(s.canary_bake_ms))})`
      : '';
  const gate = s.pause_after_canary ? '; waits for promote after the canary' : '';
  const watch = ms(s.watch_window_ms) ? `; alarms revert it until ${formatDuration(ms(s.watch_window_ms))} after the end` : '';
  return (
    `${steps}; healthy ${formatDuration(ms(s.min_healthy_time_ms))} within ${formatDuration(ms(s.healthy_deadline_ms))}` +
    `${bake}${gate}; stable after ${formatDuration(ms(s.stable_after_ms))}; ` +
    `on failure ${s.auto_revert ? 'revert' : 'stop'}; more than ${s.max_restarts} restarts fails a host${watch}`
  );
}

function reportCells(h: RolloutHost__Output): [string, string, string] {
  const r = h.last_report;
  if (!r) return ['-', '-', '-'];
  const install = r.install_phase && r.install_phase !== 'idle' && r.install_phase !== 'done' ? ` (${r.install_phase})` : '';
  // An app served from two slots: the share of its requests the active version gets on that host.
  const weight = r.traffic_weight ? ` @${r.traffic_weight}%` : '';
  return [`${r.active_version || '-'}${weight}${install}`, r.process_state || '-', r.health || '-'];
}

/** `flotilla rollout status`: the steps, every host's state and failure, and the event log. */
export function rolloutReport(r: Rollout__Output, ctx: Pick<CliContext, 'isTTY' | 'env'>): string {
  const colour = useColour(ctx);
  const now = ms(r.now_ms);
  const created = ms(r.created_at_ms);
  let text = `${paint(`rollout ${r.id}`, 'bold', colour)}: ${r.app}@${r.version} ${paint(phaseText(r), statusTone(r.status), colour)}\n`;
  text += `  from stable ${r.stable_version || '(none: first release)'}; ${r.strategy?.selector ? `selector ${r.strategy.selector}` : 'all hosts'}; `;
  text += `${plural(r.counters?.hosts ?? 0, 'host')}, ${plural(r.failure_limit, 'failure')} tolerated\n`;
  text += `  started ${formatAgo(created, now)} by ${r.created_by}`;
  if (ms(r.finished_at_ms)) text += `; ended ${formatAgo(ms(r.finished_at_ms), now)} after ${formatDuration(ms(r.finished_at_ms) - created)}`;
  text += '\n';
  text += `  strategy: ${strategyText(r)}\n`;
  text += `  progress: ${countsText(r)}\n`;
  if (r.end_reason) text += `  ${isFinishedStatus(r.status) ? 'ended' : 'stopping'}: ${r.end_reason} (${r.ended_by})\n`;
  if (r.status === 'paused') text += `  paused by ${r.paused_by} ${formatAgo(ms(r.paused_at_ms), now)}\n`;

  text += '\n';
  text += renderTable(
    ['STEP', 'HOSTS', 'REACHES', 'PROGRESS', 'STATE'],
    r.steps.map((step) => {
      const c = stepCounts(stepHosts(r, step));
      const parts = [`${c.passed} passed`];
      if (c.active) parts.push(`${c.active} in progress`);
      if (c.failed) parts.push(`${c.failed} failed`);
      if (c.reverted) parts.push(`${c.reverted} reverted`);
      return [stepName(step.index), String(step.host_ids.length), `${step.target_count}/${r.counters?.hosts ?? 0}`, parts.join(', '), stepState(r, step)];
    }),
    colour,
  );

  text += '\n';
  text += renderTable(
    ['HOST', 'STEP', 'STATE', 'ACTIVE', 'PROCESS', 'HEALTH', 'REASON'],
    r.hosts.map((h) => {
      const [active, process, health] = reportCells(h);
      const note = h.failure_reason || (h.down ? 'down' : h.removed ? 'left the selection' : '');
      return [h.host_id, stepName(h.step), paint(h.state, hostTone(h.state), colour), active, process, health, note];
    }),
    colour,
  );

  text += `\nEVENTS\n`;
  for (const e of r.log) text += `  ${logLine(e, created)}\n`;
  const alarms = r.events ?? [];
  if (alarms.length > 0) text += `\nALARMS, ROLLBACKS AND FAILED STEPS (while it ran or inside its watch window)\n${eventsTable(alarms, now, colour)}`;
  return text;
}

function logLine(e: Rollout__Output['log'][number], createdMs: number): string {
  return `+${formatDuration(Math.max(0, ms(e.at_ms) - createdMs)).padEnd(7)} ${e.actor.padEnd(16)} ${e.message}`;
}

/** The live view's lines: a header, a bar per step, failures, the latest event. */
export function progressBlock(r: Rollout__Output, colour: boolean): string[] {
  const now = ms(r.now_ms);
  const lines = [
    `${paint(`rollout ${r.id}`, 'bold', colour)}  ${r.app}@${r.version}  ${paint(phaseText(r), statusTone(r.status), colour)}  ` +
      `(${formatDuration(Math.max(0, (ms(r.finished_at_ms) || now) - ms(r.created_at_ms)))})`,
  ];
  for (const step of r.steps) {
    const c = stepCounts(stepHosts(r, step));
    const total = step.host_ids.length;
    const parts = [`${c.passed}/${total} passed`];
    if (c.active) parts.push(`${c.active} in progress`);
    if (c.failed) parts.push(`${c.failed} failed`);
    if (c.reverted) parts.push(`${c.reverted} reverted`);
    lines.push(`  ${stepName(step.index).padEnd(8)} [${bar(c.passed, c.failed, c.active, total, colour)}] ${parts.join(', ')}  ${stepState(r, step)}`);
  }
  const failed = r.hosts.filter((h) => h.state === 'failed' || (h.failure_reason && h.state !== 'passed'));
  for (const h of failed.slice(0, 5)) lines.push(`  ${paint('failed', 'bad', colour)} ${h.host_id}: ${clip(h.failure_reason, 110)}`);
  if (failed.length > 5) lines.push(`  and ${failed.length - 5} more failed hosts`);
  const latest = r.log[r.log.length - 1];
  if (latest) lines.push(paint(`  latest: ${clip(latest.message, 120)}`, 'dim', colour));
  return lines;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** Shows a rollout as it changes: redrawn in place on a terminal, plain lines otherwise. */
export class RolloutProgress {
  private drawn = 0;
  private lastLine = '';
  private logSeen = 0;
  private lastJson = '';
  private readonly live: boolean;
  private readonly colour: boolean;

  constructor(
    private readonly out: CliOutput,
    ctx: Pick<CliContext, 'isTTY' | 'env'>,
    private readonly json: boolean,
  ) {
    this.live = ctx.isTTY && !json;
    this.colour = useColour(ctx);
  }

  update(r: Rollout__Output): void {
    if (this.json) {
      // One JSON document per line per change: easy to follow with jq. A watch opened again (on
      // another controller, say) starts with the rollout as it is: not a change when nothing moved.
      const same = JSON.stringify({ ...r, now_ms: '' });
      if (same === this.lastJson) return;
      this.lastJson = same;
      this.out.write(`${JSON.stringify(r)}\n`);
      return;
    }
    if (this.live) {
      const lines = progressBlock(r, this.colour);
      const up = this.drawn > 0 ? `\u001b[${this.drawn}A\r\u001b[0J` : '';
      this.out.write(`${up}${lines.join('\n')}\n`);
      this.drawn = lines.length;
      return;
    }
    const created = ms(r.created_at_ms);
    for (const e of r.log.slice(this.logSeen)) this.out.write(`${logLine(e, created)}\n`);
    this.logSeen = r.log.length;
    const line = progressLine(r);
    if (line !== this.lastLine) {
      this.out.write(`+${formatDuration(Math.max(0, ms(r.now_ms) - created)).padEnd(7)} ${line}\n`);
      this.lastLine = line;
    }
  }

  /** A warning below the view; the live view starts over under it. */
  note(text: string): void {
    if (this.json) return;
    this.out.write(`${text}\n`);
    this.drawn = 0;
  }
}

export interface WatchOptions {
  ctx: CliContext;
  client: ControllerClient;
  ref: { id?: string; app?: string };
  json: boolean;
}

/** How long a watch keeps trying to reach a controller that went away (a restart, say). */
export const WATCH_UNREACHABLE_MS = 5 * 60_000;
/** Pause before watching again after the stream broke. */
export const WATCH_RETRY_MS = 1_000;

/**
 * Follows a rollout until it finishes; exit 0 when it succeeded, 1 when it ended any other way.
 * A controller that goes away (restarts) is watched again, for up to WATCH_UNREACHABLE_MS.
 */
export async function watchRollout(w: WatchOptions): Promise<number> {
  const { ctx, client } = w;
  const progress = new RolloutProgress(ctx.out, ctx, w.json);
  let ref = w.ref;
  let last: Rollout__Output | undefined;
  let unreachableSince: number | null = null;
  // Bounded: each round either ends the watch, or waits WATCH_RETRY_MS within the allowance.
  const rounds = Math.ceil(WATCH_UNREACHABLE_MS / WATCH_RETRY_MS) * 20;
  for (let round = 0; round < rounds; round++) {
    try {
      for await (const r of client.watchRollout(ref)) {
        unreachableSince = null;
        last = r;
        // Stick to this rollout: the app's "latest" may be another one after a reconnect.
        ref = { id: r.id };
        progress.update(r);
        if (isFinishedStatus(r.status)) break;
      }
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== 'FLOTILLA_ERR_UNAVAILABLE') throw err;
      if (unreachableSince === null) {
        unreachableSince = ctx.now();
        progress.note(`warning: ${(err as Error).message}; watching again`);
      } else if (ctx.now() - unreachableSince > WATCH_UNREACHABLE_MS) {
        throw err;
      }
    }
    if (last && isFinishedStatus(last.status)) break;
    await ctx.sleep(WATCH_RETRY_MS);
  }
  if (!last || !isFinishedStatus(last.status)) {
    ctx.err.write(`error: gave up watching ${last?.id ?? 'the rollout'}: it has not finished\n`);
    return EXIT.FAILED;
  }
  if (!w.json) {
    const line = outcomeLine(last);
    (last.status === 'succeeded' ? ctx.out : ctx.err).write(`${last.status === 'succeeded' ? '' : 'error: '}${line}\n`);
  }
  return exitCodeOf(last);
}

/** `rollout list` rows. */
export function summaryRows(rows: readonly RolloutSummary__Output[], nowMs: number, colour: boolean): string {
  return renderTable(
    ['ID', 'VERSION', 'STATUS', 'HOSTS', 'FROM', 'STARTED', 'BY', 'REASON'],
    rows.map((r) => [
      r.id,
      `${r.app}@${r.version}`,
      paint(r.status, statusTone(r.status), colour),
      `${r.passed}/${r.hosts}${r.failed ? `, ${r.failed} failed` : ''}`,
      r.stable_version || '-',
      formatAgo(ms(r.created_at_ms), nowMs),
      r.created_by || '-',
      clip(r.end_reason, 80),
    ]),
    colour,
  );
}

