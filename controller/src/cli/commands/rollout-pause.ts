import type { CliContext } from '../context.js';
import { sendRolloutCommand, type RolloutCommandOptions } from './rollout-command.js';

/** `flotilla rollout pause ID`. Stops new steps (and the marking stable); hosts already assigned are still watched. */
export function rolloutPause(opts: RolloutCommandOptions, ctx: CliContext): Promise<number> {
  return sendRolloutCommand('pause', opts, ctx);
}
