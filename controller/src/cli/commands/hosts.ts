import type { AppStatus__Output, HostInfo__Output } from '@flotilla/proto';
import { parseSelector } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import {
  formatAgo,
  formatBytes,
  formatLabels,
  formatUsage,
  paint,
  renderTable,
  toJson,
  toNumber,
  useColour,
} from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';

export interface HostsOptions extends RawGlobalOptions {
  /** Label selector, e.g. `env=prod,zone!=b`. */
  selector?: string | undefined;
}

/** `flotilla hosts`: every known host (or those the selector picks), its state, apps and load. */
export async function hosts(opts: HostsOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const selector = (opts.selector ?? '').trim();
    // Checked here too so that a typo is a usage error (exit 2) before anything is sent.
    parseSelector(selector);
    const response = await withController(ctx, globals, (client) => client.listHosts({ selector }));
    if (globals.json) {
      ctx.out.write(toJson(response));
      return EXIT.OK;
    }
    if (response.hosts.length === 0) {
      ctx.out.write(selector ? `no hosts match selector "${selector}"\n` : 'no hosts have announced themselves yet\n');
      return EXIT.OK;
    }
    ctx.out.write(hostsTable(response.hosts, ctx));
    return EXIT.OK;
  });
}

export function hostsTable(list: readonly HostInfo__Output[], ctx: Pick<CliContext, 'now' | 'isTTY' | 'env'>): string {
  const colour = useColour(ctx);
  const now = ctx.now();
  const sorted = sortHosts(list);
  const rows = sorted.map((h) => [
    h.host_id,
    paint(hostState(h), h.state === 'up' && !h.stale && !h.trust_error ? 'good' : 'bad', colour),
    formatHostLabels(h, colour),
    formatApps(h.apps),
    h.load ? `${Math.round(h.load.cpu_percent)}%` : '-',
    h.load ? formatUsage(toNumber(h.load.mem_used_bytes), toNumber(h.load.mem_total_bytes)) : '-',
    h.load ? formatBytes(toNumber(h.load.disk_free_bytes)) : '-',
    formatAgo(toNumber(h.last_seen_ms), now),
    formatKeyEpoch(h),
  ]);
  const table = renderTable(['HOST', 'STATE', 'LABELS', 'APPS', 'CPU', 'MEM', 'DISK FREE', 'LAST SEEN', 'KEY'], rows, colour);
  // A refusal is the one thing here an operator must read in full: the host's own words.
  const refusals = sorted.filter((h) => h.trust_error).map((h) => `${h.host_id}: refuses: ${h.trust_error}\n`);
  return table + refusals.join('');
}

/** `up`, `up,stale` (holds only an expired assignment), `up,refusing` (refused the last one). */
function hostState(h: HostInfo__Output): string {
  return [h.state || 'unknown', ...(h.stale ? ['stale'] : []), ...(h.trust_error ? ['refusing'] : [])].join(',');
}

/** The controller-key epoch the host trusts: `e2`, or `e1<e2` for one that has not taken the rotation. */
function formatKeyEpoch(h: HostInfo__Output): string {
  if (!h.key_epoch) return '-';
  return h.controller_key_epoch && h.key_epoch < h.controller_key_epoch ? `e${h.key_epoch}<e${h.controller_key_epoch}` : `e${h.key_epoch}`;
}

/** The labels that count, then any the host claimed and was not believed, marked `!`. */
function formatHostLabels(h: HostInfo__Output, colour: boolean): string {
  const refused = Object.entries(h.refused_labels ?? {});
  if (refused.length === 0) return formatLabels(h.labels);
  const marks = refused
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => paint(`!${k}=${v}`, 'bad', colour))
    .join(',');
  return Object.keys(h.labels).length === 0 ? marks : `${formatLabels(h.labels)},${marks}`;
}

export function sortHosts(list: readonly HostInfo__Output[]): HostInfo__Output[] {
  return [...list].sort((a, b) => (a.host_id < b.host_id ? -1 : a.host_id > b.host_id ? 1 : 0));
}

/** `web@1.4.2`, or `web@1.4.1->1.4.2` while the host moves to a new version. */
function formatApps(apps: readonly AppStatus__Output[]): string {
  if (apps.length === 0) return '-';
  return [...apps]
    .sort((a, b) => (a.app < b.app ? -1 : 1))
    .map((a) => {
      const active = a.active_version || '-';
      return a.desired_version && a.desired_version !== a.active_version
        ? `${a.app}@${active}->${a.desired_version}`
        : `${a.app}@${active}`;
    })
    .join(',');
}
