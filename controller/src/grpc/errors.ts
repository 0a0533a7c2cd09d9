import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import {
  ERROR_CODE_METADATA,
  FlotillaError,
  InternalError,
  codeForGrpcStatus,
  errorClassFor,
  grpcStatusOf,
  toFlotillaError,
  type GrpcStatusName,
} from '@flotilla/shared';

/** The gRPC status a thrown value stands for, from the shared error table (INTERNAL if not ours). */
export function statusFor(err: unknown): status {
  return status[grpcStatusOf(err)];
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

/**
 * The other direction, for clients: the FlotillaError a failed call stands for, of the class its
 * `flotilla-error-code` names (or, from a server that did not send one, the status suggests).
 */
export function fromServiceError(err: ServiceError): FlotillaError {
  const sent = err.metadata?.get(ERROR_CODE_METADATA)[0];
  const statusName = (status[err.code] ?? 'UNKNOWN') as GrpcStatusName;
  const Class =
    (typeof sent === 'string' ? errorClassFor(sent) : undefined) ?? errorClassFor(codeForGrpcStatus(statusName)) ?? InternalError;
  return new Class(err.details || err.message, { cause: err });
}
