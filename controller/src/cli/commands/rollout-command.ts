import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { paint, toJson, useColour } from '../format.js';
import { actorOf, resolveGlobals, withController, type RawGlobalOptions } from '../options.js';
import { phaseText, statusTone } from './rollout-view.js';

export interface RolloutCommandOptions extends RawGlobalOptions {
  id: string;
}

export type RolloutCommand = 'pause' | 'resume' | 'promote' | 'abort';

/**
 * Sends one operator command and prints where the rollout stands after it. A command the
 * rollout's state does not allow (promote while not paused, anything after the end) is the
 * controller's refusal: exit 1 with its reason.
 */
export async function sendRolloutCommand(
  command: RolloutCommand,
  opts: RolloutCommandOptions & { noRevert?: boolean | undefined },
  ctx: CliContext,
): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const { rollout } = await withController(ctx, globals, (client) =>
      client.rolloutCommand({ id: opts.id, command, no_revert: opts.noRevert === true, actor: actorOf(ctx.env) }),
    );
    if (!rollout) return EXIT.OK;
    if (globals.json) {
      ctx.out.write(toJson(rollout));
      return EXIT.OK;
    }
    const colour = useColour(ctx);
    ctx.out.write(`rollout ${rollout.id}: ${paint(phaseText(rollout), statusTone(rollout.status), colour)}\n`);
    if (rollout.end_reason) ctx.out.write(`  ${rollout.end_reason}\n`);
    return EXIT.OK;
  });
}
