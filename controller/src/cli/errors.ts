import { ControllerError, EXIT, entryOf, errorMessage, type ExitCode } from '@flotilla/shared';

// The exit codes are part of the shared error table; verbs import them from here with the rest
// of what turns a failure into an exit.
export { EXIT, type ExitCode } from '@flotilla/shared';

/** Where a verb writes its error line: the CLI context's stderr, or a test's buffer. */
export interface ErrorOutput {
  readonly err: { write(text: string): unknown };
}

/**
 * Which exit code a thrown value stands for. A refusal from the controller is an operation failure
 * whatever its code; an error the CLI raised itself has its code's exit code in the shared table
 * (bad local input is USAGE, an unreachable controller UNREACHABLE).
 */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof ControllerError) return EXIT.FAILED;
  return entryOf(err).exit;
}

/** Prints one clear line for a thrown value and returns its exit code. */
export function reportError(ctx: ErrorOutput, err: unknown): ExitCode {
  ctx.err.write(`error: ${errorMessage(err)}\n`);
  return exitCodeFor(err);
}

/** Runs a verb's body; anything it throws becomes one error line and an exit code. */
export async function runVerb(ctx: ErrorOutput, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    return reportError(ctx, err);
  }
}
