import { assertAppName } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { toJson, useColour } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';
import { summaryRows } from './rollout-view.js';

export interface RolloutListOptions extends RawGlobalOptions {
  app?: string | undefined;
}

/** `flotilla rollout list [--app APP]`: rollouts, newest first, with how each ended. */
export async function rolloutList(opts: RolloutListOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    if (opts.app !== undefined) assertAppName(opts.app);
    const { rollouts } = await withController(ctx, globals, (client) => client.listRollouts({ app: opts.app ?? '' }));
    if (globals.json) ctx.out.write(toJson({ rollouts }));
    else if (rollouts.length === 0) ctx.out.write(opts.app ? `no rollouts of ${opts.app} yet\n` : 'no rollouts yet\n');
    else ctx.out.write(summaryRows(rollouts, ctx.now(), useColour(ctx)));
    return EXIT.OK;
  });
}
