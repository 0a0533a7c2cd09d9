import { FlotillaError } from '@flotilla/shared';

type ErrorOptions = ConstructorParameters<typeof FlotillaError>[2];

/** A read asked for bytes past the end of what is stored (a download offset beyond the artifact). */
export class OutOfRangeError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_OUT_OF_RANGE', message, options);
  }
}

/**
 * How a ConflictError says which conflict it is (`details.kind`): `duplicate` means "that
 * already exists" (gRPC ALREADY_EXISTS); anything else is a clash with the current state
 * (gRPC FAILED_PRECONDITION).
 */
export const CONFLICT_KIND = Object.freeze({
  duplicate: 'duplicate',
  state: 'state',
  revision: 'revision',
} as const);
