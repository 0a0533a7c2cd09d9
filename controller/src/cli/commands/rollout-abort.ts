import type { CliContext } from '../context.js';
import { sendRolloutCommand, type RolloutCommandOptions } from './rollout-command.js';

export interface RolloutAbortOptions extends RolloutCommandOptions {
  /** Leave hosts as they are instead of reverting them to the stable version. */
  noRevert?: boolean | undefined;
}

/**
 * `flotilla rollout abort ID [--no-revert]`: stops the rollout and sends every host it touched
 * back to the stable version, or with --no-revert leaves them where they are.
 */
export function rolloutAbort(opts: RolloutAbortOptions, ctx: CliContext): Promise<number> {
  return sendRolloutCommand('abort', opts, ctx);
}
