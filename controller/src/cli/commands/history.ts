import type { GetHistoryResponse__Output } from '@flotilla/proto';
import { assertAppName, formatDuration } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { formatAgo, paint, renderTable, toJson, toNumber, useColour } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';
import { eventsTable } from './events.js';
import { statusTone } from './rollout-view.js';

export interface HistoryOptions extends RawGlobalOptions {
  app: string;
}

/**
 * `flotilla history APP`: the app's versions (which were stable, and when; which are marked bad),
 * its rollouts (how each ended and why), and its alarms, rollbacks and failed steps' reverts.
 */
export async function history(opts: HistoryOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const app = assertAppName(opts.app);
    const response = await withController(ctx, globals, (client) => client.getHistory({ app }));
    ctx.out.write(globals.json ? toJson(response) : historyReport(response, ctx));
    return EXIT.OK;
  });
}

export function historyReport(h: GetHistoryResponse__Output, ctx: Pick<CliContext, 'now' | 'isTTY' | 'env'>): string {
  const colour = useColour(ctx);
  const now = ctx.now();
  const stableSince = toNumber(h.stable_since_ms);
  const previous = h.previous_stable_version ? `; previous stable ${h.previous_stable_version}` : '';
  let text = h.stable_version
    ? `${h.app}: stable ${paint(h.stable_version, 'good', colour)} since ${formatAgo(stableSince, now)}${previous}\n\n`
    : `${h.app}: no stable version yet\n\n`;
  text += renderTable(
    ['VERSION', 'UPLOADED', 'STABLE', 'BAD'],
    h.versions.map((v) => {
      const periods = v.stable_periods.map((p) => {
        const since = toNumber(p.since_ms);
        const until = toNumber(p.until_ms);
        const by = p.rollout_id ? ` via ${p.rollout_id}` : '';
        return until ? `was stable for ${formatDuration(until - since)}, until ${formatAgo(until, now)}${by}` : `stable since ${formatAgo(since, now)}${by}`;
      });
      return [
        v.stable ? paint(v.version, 'good', colour) : v.version,
        toNumber(v.uploaded_at_ms) ? formatAgo(toNumber(v.uploaded_at_ms), now) : '-',
        periods.length ? periods.join('; ') : '-',
        v.bad ? paint(`bad since ${formatAgo(toNumber(v.bad_since_ms), now)} (${v.bad_by}: ${clip(v.bad_reason, 80)})`, 'bad', colour) : '-',
      ];
    }),
    colour,
  );
  text += '\n';
  if (h.rollouts.length === 0) return `${text}no rollouts yet\n${alarms(h, now, colour)}`;
  text += renderTable(
    ['ROLLOUT', 'VERSION', 'FROM', 'OUTCOME', 'STARTED', 'TOOK', 'BY', 'WHY'],
    h.rollouts.map((r) => {
      const created = toNumber(r.created_at_ms);
      const finished = toNumber(r.finished_at_ms);
      return [
        r.id,
        r.version,
        r.stable_version || '-',
        paint(r.status, statusTone(r.status), colour),
        formatAgo(created, now),
        finished ? formatDuration(finished - created) : '-',
        r.created_by || '-',
        r.end_reason || (finished ? '' : 'in progress'),
      ];
    }),
    colour,
  );
  return text + alarms(h, now, colour);
}

function alarms(h: GetHistoryResponse__Output, now: number, colour: boolean): string {
  if (!h.events || h.events.length === 0) return '';
  return `\nALARMS, ROLLBACKS AND FAILED STEPS (newest first)\n${eventsTable(h.events, now, colour)}`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
