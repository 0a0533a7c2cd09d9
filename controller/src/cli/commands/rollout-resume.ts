import type { CliContext } from '../context.js';
import { sendRolloutCommand, type RolloutCommandOptions } from './rollout-command.js';

/** `flotilla rollout resume ID`. Goes on after an operator pause (a pause after the canary needs promote). */
export function rolloutResume(opts: RolloutCommandOptions, ctx: CliContext): Promise<number> {
  return sendRolloutCommand('resume', opts, ctx);
}
