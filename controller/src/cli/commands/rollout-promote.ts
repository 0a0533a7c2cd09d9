import type { CliContext } from '../context.js';
import { sendRolloutCommand, type RolloutCommandOptions } from './rollout-command.js';

/** `flotilla rollout promote ID`. Lifts the wait after the canary (--pause-after-canary), or an operator pause. */
export function rolloutPromote(opts: RolloutCommandOptions, ctx: CliContext): Promise<number> {
  return sendRolloutCommand('promote', opts, ctx);
}
