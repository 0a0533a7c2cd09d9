import {
  ConfigError,
  FlotillaError,
  IntegrityError,
  SignatureError,
  UnavailableError,
  ValidationError,
  errorMessage,
} from '@flotilla/shared';
import type { CliContext } from './context.js';

/** The CLI's exit codes (fixed by the contract scripts rely on). */
export const EXIT = Object.freeze({
  /** The command did what was asked. */
  OK: 0,
  /** The operation failed: the controller refused it, a deploy did not converge, ... */
  FAILED: 1,
  /** Usage error or bad local input (arguments, files), caught before anything was sent. */
  USAGE: 2,
  /** The controller could not be reached. */
  UNREACHABLE: 3,
});

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * The controller answered a call with an error status. Its message is the controller's own
 * (the FlotillaError message it mapped to the status), so the operator sees why it refused.
 */
export class ControllerError extends FlotillaError {
  /** The gRPC status name, e.g. `PERMISSION_DENIED`. */
  readonly status: string;

  constructor(code: string, message: string, status: string, options: { cause?: unknown } = {}) {
    super(code, message, { ...options, details: { status } });
    this.status = status;
  }
}

/**
 * Errors the CLI raises itself, before sending anything, about what it was given: arguments, key
 * files, an artifact that does not match its pre-signed descriptor. The controller's refusals of
 * the same kinds arrive as ControllerError instead, and are operation failures.
 */
export function isLocalInputError(err: unknown): boolean {
  return (
    err instanceof ValidationError ||
    err instanceof ConfigError ||
    // The CLI raises these only from its own pre-checks of a file against a descriptor.
    err instanceof IntegrityError ||
    err instanceof SignatureError
  );
}

/** Which exit code a thrown value stands for. */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof ControllerError) return EXIT.FAILED;
  if (err instanceof UnavailableError) return EXIT.UNREACHABLE;
  if (isLocalInputError(err)) return EXIT.USAGE;
  return EXIT.FAILED;
}

/** Prints one clear line for a thrown value and returns its exit code. */
export function reportError(ctx: Pick<CliContext, 'err'>, err: unknown): ExitCode {
  ctx.err.write(`error: ${errorMessage(err)}\n`);
  return exitCodeFor(err);
}

/** Runs a verb's body; anything it throws becomes one error line and an exit code. */
export async function runVerb(ctx: Pick<CliContext, 'err'>, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    return reportError(ctx, err);
  }
}
