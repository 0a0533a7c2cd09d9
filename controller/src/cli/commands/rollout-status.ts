import { assertAppName, ValidationError } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { toJson } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';
import { rolloutReport, watchRollout } from './rollout-view.js';

export interface RolloutStatusOptions extends RawGlobalOptions {
  /** A rollout id; or `app` for the app's active (else latest) rollout. */
  id?: string | undefined;
  app?: string | undefined;
  /** Follow it until it finishes; exit 1 unless it succeeds. */
  watch?: boolean | undefined;
}

/**
 * `flotilla rollout status [ID | --app APP] [--watch]`: the steps, each host's state and the
 * reason for every failure, and the event log; or, with --watch, a live view until it ends.
 */
export async function rolloutStatus(opts: RolloutStatusOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    if (opts.id && opts.app) throw new ValidationError('give a rollout ID or --app, not both');
    if (!opts.id && !opts.app) throw new ValidationError('which rollout? give its ID, or --app APP for the app\'s latest');
    if (opts.app) assertAppName(opts.app);
    const ref = opts.id ? { id: opts.id } : { app: opts.app as string };
    return withController(ctx, globals, async (client) => {
      if (opts.watch) return watchRollout({ ctx, client, ref, json: globals.json });
      const { rollout } = await client.getRollout(ref);
      if (!rollout) throw new ValidationError('the controller sent no rollout');
      ctx.out.write(globals.json ? toJson(rollout) : rolloutReport(rollout, ctx));
      return EXIT.OK;
    });
  });
}
