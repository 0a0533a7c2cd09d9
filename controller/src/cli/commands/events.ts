import type { AppEvent__Output } from '@flotilla/proto';
import { ValidationError, assertAppName } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { formatAgo, paint, renderTable, toJson, toNumber, useColour, type Tone } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';

export interface EventsOptions extends RawGlobalOptions {
  app?: string | undefined;
  /** How many, newest first. @default 50 */
  limit?: string | undefined;
}

export const DEFAULT_EVENTS_LIMIT = 50;

/**
 * `flotilla events [--app APP] [--limit N]`: alarms (from alert webhooks and built-in alarms) and
 * rollbacks, newest first: when, which app, where from, what each did, and why.
 */
export async function events(opts: EventsOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    if (opts.app !== undefined) assertAppName(opts.app);
    const limit = opts.limit === undefined ? DEFAULT_EVENTS_LIMIT : Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ValidationError(`--limit "${opts.limit}" must be a whole number from 1 to 1000`);
    }
    const response = await withController(ctx, globals, (client) => client.listEvents({ app: opts.app ?? '', limit }));
    if (globals.json) {
      ctx.out.write(toJson(response));
    } else if (response.events.length === 0) {
      ctx.out.write(opts.app ? `no alarms or rollbacks for ${opts.app} yet\n` : 'no alarms or rollbacks yet\n');
    } else {
      ctx.out.write(eventsTable(response.events, ctx.now(), useColour(ctx), { withApp: opts.app === undefined }));
    }
    return EXIT.OK;
  });
}

export function actionTone(action: string): Tone | undefined {
  switch (action) {
    case 'reverted':
    case 'rolled-back':
    case 'stopped':
      return 'bad';
    case 'already-reverting':
    case 'recorded':
    case 'unchanged':
      return 'dim';
    default:
      return undefined;
  }
}

/** `2.0.0 -> 1.0.0`, or what is known of it. */
function versions(e: AppEvent__Output): string {
  if (e.from_version && e.to_version) return `${e.from_version} -> ${e.to_version}`;
  if (e.to_version) return `-> ${e.to_version}`;
  return '-';
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** Actions whose message says why nothing (more) was reverted; the others speak for themselves. */
function explains(action: string): boolean {
  return action === 'recorded' || action === 'stopped' || action === 'store-behind';
}

/** The events as a table (in the order given); `flotilla history` and `rollout status` use it too. */
export function eventsTable(
  list: readonly AppEvent__Output[],
  nowMs: number,
  colour: boolean,
  opts: { withApp?: boolean } = {},
): string {
  const head = ['WHEN', ...(opts.withApp ? ['APP'] : []), 'EVENT', 'SOURCE', 'ACTION', 'VERSIONS', 'HOSTS', 'ROLLOUT', 'REASON'];
  return renderTable(
    head,
    list.map((e) => [
      formatAgo(toNumber(e.at_ms), nowMs),
      ...(opts.withApp ? [e.app] : []),
      e.kind,
      e.kind === 'rollback' ? e.actor || e.source : e.source,
      paint(e.action, actionTone(e.action), colour),
      versions(e),
      String(e.hosts),
      e.rollout_id || '-',
      clip(explains(e.action) && e.message ? `${e.reason} (${e.message})` : e.reason, 200),
    ]),
    colour,
  );
}
