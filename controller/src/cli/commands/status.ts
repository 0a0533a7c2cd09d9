import type { AppInfo__Output, AppStatus__Output, ClusterInfo__Output, GetStatusResponse__Output } from '@flotilla/proto';
import { assertAppName } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { formatAgo, paint, renderTable, toJson, toNumber, useColour, type Tone } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';
import { sortHosts } from './hosts.js';

export interface StatusOptions extends RawGlobalOptions {
  /** Only this app. */
  app?: string | undefined;
}

/** `flotilla status [APP]`: which host runs which version, and how the process and its health are. */
export async function status(opts: StatusOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    if (opts.app !== undefined) assertAppName(opts.app);
    const response = await withController(ctx, globals, (client) => client.getStatus({ app: opts.app ?? '' }));
    if (globals.json) {
      ctx.out.write(toJson(response));
      return EXIT.OK;
    }
    ctx.out.write(statusReport(response, opts.app, ctx));
    return EXIT.OK;
  });
}

export function statusReport(
  response: GetStatusResponse__Output,
  app: string | undefined,
  ctx: Pick<CliContext, 'now' | 'isTTY' | 'env'>,
): string {
  const colour = useColour(ctx);
  const rows: string[][] = [];
  for (const host of sortHosts(response.hosts)) {
    const hostCell = host.state === 'up' ? host.host_id : paint(`${host.host_id} (${host.state || 'unknown'})`, 'bad', colour);
    const apps = [...host.apps].filter((a) => !app || a.app === app).sort((a, b) => (a.app < b.app ? -1 : 1));
    if (apps.length === 0) {
      if (!app) rows.push([hostCell, '-', '-', '-', '-', '-', '-', '-', '']);
      continue;
    }
    for (const a of apps) rows.push(appRow(hostCell, a, colour));
  }

  let text = '';
  if (rows.length === 0) {
    text += app ? `no host runs or is assigned ${app}\n` : 'no hosts have announced themselves yet\n';
  } else {
    text += renderTable(
      ['HOST', 'APP', 'DESIRED', 'ACTIVE', 'PROCESS', 'HEALTH', 'RESTARTS', 'INSTALL', 'ERROR'],
      rows,
      colour,
    );
  }
  const apps = response.apps.filter((a) => !app || a.name === app);
  if (apps.length > 0) {
    text += '\n';
    for (const a of [...apps].sort((x, y) => (x.name < y.name ? -1 : 1))) text += `${appSummary(a, ctx.now())}\n`;
  }
  const cluster = clusterSummary(response.cluster, ctx.now());
  if (cluster) text += `\n${cluster}\n`;
  return text;
}

/**
 * Who leads and how each controller is, when there are several (one controller alone is the
 * usual case and says nothing here).
 */
export function clusterSummary(cluster: ClusterInfo__Output | null | undefined, now: number): string | null {
  if (!cluster || cluster.controllers.length < 2) return null;
  const leader = cluster.leader_id
    ? `leader ${cluster.leader_id} since ${formatAgo(toNumber(cluster.leader_since_ms), now)} (fence ${toNumber(cluster.leader_fence)})`
    : 'no leader right now';
  const each = cluster.controllers.map((c) => `${c.id} ${c.state} at ${c.grpc}${c.id === cluster.self ? ' (answered)' : ''}`);
  return `controllers: ${leader}; ${each.join(', ')}`;
}

function appRow(hostCell: string, a: AppStatus__Output, colour: boolean): string[] {
  return [
    hostCell,
    a.app,
    a.desired_version || '-',
    a.active_version || '-',
    paint(a.process_state || '-', processTone(a.process_state), colour),
    paint(a.health || '-', healthTone(a.health), colour),
    String(a.restarts ?? 0),
    paint(installCell(a), a.install_phase === 'failed' ? 'bad' : undefined, colour),
    a.error || '',
  ];
}

/** The install phase, with the version it is about when that is not simply the active one. */
export function installCell(a: Pick<AppStatus__Output, 'install_phase' | 'install_version' | 'active_version'>): string {
  const phase = a.install_phase || 'idle';
  if (phase === 'idle' || phase === 'done') return phase;
  return a.install_version ? `${phase} ${a.install_version}` : phase;
}

function processTone(state: string): Tone | undefined {
  if (state === 'running') return 'good';
  if (state === 'crash-loop' || state === 'backoff' || state === 'exited') return 'bad';
  if (state === 'starting' || state === 'stopping') return 'warn';
  return undefined;
}

function healthTone(health: string): Tone | undefined {
  if (health === 'healthy') return 'good';
  if (health === 'unhealthy') return 'bad';
  return undefined;
}

function appSummary(a: AppInfo__Output, now: number): string {
  const stable = a.stable_version
    ? `stable ${a.stable_version} (since ${formatAgo(toNumber(a.stable_since_ms), now)})`
    : 'no stable version yet';
  // Versions come oldest first; the newest are the ones an operator looks for.
  const recent = a.versions.slice(-8);
  const older = a.versions.length - recent.length;
  const versions = a.versions.length
    ? `; versions ${older > 0 ? `(${older} older) ` : ''}${recent.join(', ')}`
    : '; no artifacts';
  const previous = a.previous_stable_version ? `; previous stable ${a.previous_stable_version}` : '';
  const bad = a.bad_versions.length ? `; bad ${a.bad_versions.join(', ')}` : '';
  return `${a.name}: ${stable}${previous}${versions}${bad}`;
}
