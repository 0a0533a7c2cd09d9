import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { FlotillaError, InternalError, errorClassFor, toFlotillaError, type FlotillaErrorClass } from '@flotilla/shared';
import { CONFLICT_KIND, OutOfRangeError } from '../errors.js';

/** Trailing metadata key that carries the FLOTILLA_ERR_* code of a failed call. */
export const ERROR_CODE_METADATA = 'flotilla-error-code';

/**
 * The one FlotillaError → gRPC status table. CONFLICT is the exception: a duplicate is
 * ALREADY_EXISTS and any other clash with current state FAILED_PRECONDITION (see statusFor).
 * Codes not listed here are INTERNAL.
 */
export const STATUS_BY_ERROR_CODE: Readonly<Record<string, status>> = Object.freeze({
  FLOTILLA_ERR_VALIDATION: status.INVALID_ARGUMENT,
  FLOTILLA_ERR_MANIFEST: status.INVALID_ARGUMENT,
  FLOTILLA_ERR_UNSAFE_ARCHIVE: status.INVALID_ARGUMENT,
  FLOTILLA_ERR_CONFIG: status.INVALID_ARGUMENT,
  FLOTILLA_ERR_SIGNATURE: status.PERMISSION_DENIED,
  FLOTILLA_ERR_INTEGRITY: status.DATA_LOSS,
  FLOTILLA_ERR_STALE_ASSIGNMENT: status.FAILED_PRECONDITION,
  FLOTILLA_ERR_NOT_FOUND: status.NOT_FOUND,
  FLOTILLA_ERR_UNAUTHENTICATED: status.UNAUTHENTICATED,
  FLOTILLA_ERR_UNAVAILABLE: status.UNAVAILABLE,
  FLOTILLA_ERR_OUT_OF_RANGE: status.OUT_OF_RANGE,
});

/** The gRPC status a FlotillaError stands for. */
export function statusFor(err: FlotillaError): status {
  if (err.code === 'FLOTILLA_ERR_CONFLICT') {
    return err.details.kind === CONFLICT_KIND.duplicate ? status.ALREADY_EXISTS : status.FAILED_PRECONDITION;
  }
  return STATUS_BY_ERROR_CODE[err.code] ?? status.INTERNAL;
}

/**
 * What a handler passes to its callback (or emits as 'error') for anything thrown: the status
 * from the table, the FlotillaError's message as `details`, and its code in the trailing
 * metadata `flotilla-error-code`.
 */
export function toServiceError(err: unknown): Partial<StatusObject> & Error {
  const fe = toFlotillaError(err);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA, fe.code);
  const e = new Error(fe.message) as Partial<StatusObject> & Error;
  e.code = statusFor(fe);
  e.details = fe.message;
  e.metadata = metadata;
  return e;
}

/** The class of a code, the controller's own OUT_OF_RANGE included. */
function classFor(code: string): FlotillaErrorClass | undefined {
  return code === 'FLOTILLA_ERR_OUT_OF_RANGE' ? OutOfRangeError : errorClassFor(code);
}

const CODE_BY_STATUS: Readonly<Partial<Record<status, string>>> = {
  [status.INVALID_ARGUMENT]: 'FLOTILLA_ERR_VALIDATION',
  [status.PERMISSION_DENIED]: 'FLOTILLA_ERR_SIGNATURE',
  [status.DATA_LOSS]: 'FLOTILLA_ERR_INTEGRITY',
  [status.NOT_FOUND]: 'FLOTILLA_ERR_NOT_FOUND',
  [status.ALREADY_EXISTS]: 'FLOTILLA_ERR_CONFLICT',
  [status.FAILED_PRECONDITION]: 'FLOTILLA_ERR_CONFLICT',
  [status.UNAUTHENTICATED]: 'FLOTILLA_ERR_UNAUTHENTICATED',
  [status.UNAVAILABLE]: 'FLOTILLA_ERR_UNAVAILABLE',
  [status.DEADLINE_EXCEEDED]: 'FLOTILLA_ERR_UNAVAILABLE',
  [status.OUT_OF_RANGE]: 'FLOTILLA_ERR_OUT_OF_RANGE',
};

/**
 * The other direction, for clients: the FlotillaError a failed call stands for, of the class its
 * `flotilla-error-code` names (or, from a server that did not send one, the status suggests).
 */
export function fromServiceError(err: ServiceError): FlotillaError {
  const sent = err.metadata?.get(ERROR_CODE_METADATA)[0];
  const Class =
    (typeof sent === 'string' ? classFor(sent) : undefined) ?? classFor(CODE_BY_STATUS[err.code] ?? 'FLOTILLA_ERR_INTERNAL') ?? InternalError;
  return new Class(err.details || err.message, { cause: err });
}
