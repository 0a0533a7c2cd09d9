import * as grpc from '@grpc/grpc-js';
import { FlotillaError, IntegrityError, NotFoundError, UnauthenticatedError, UnavailableError, ValidationError } from '@flotilla/shared';

export type Outcome =
  | { kind: 'complete' }
  | { kind: 'short' }
  /** `slow`: the stream brought bytes, too few to count as progress against the retry limit. */
  | { kind: 'transient'; error: FlotillaError; slow?: boolean }
  | { kind: 'fatal'; error: FlotillaError; discardPartial: boolean }
  | { kind: 'aborted' };

export function outcomeOfStatus(status: grpc.StatusObject, sha256: string): Outcome {
  const what = `${grpc.status[status.code] ?? status.code}: ${status.details}`;
  switch (status.code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
    case grpc.status.ABORTED:
    case grpc.status.CANCELLED:
    case grpc.status.RESOURCE_EXHAUSTED:
    // Stream resets and dropped connections surface as INTERNAL or UNKNOWN.
    case grpc.status.INTERNAL:
    case grpc.status.UNKNOWN:
      return { kind: 'transient', error: new UnavailableError(`the download stream failed (${what})`) };
    case grpc.status.NOT_FOUND:
      return {
        kind: 'fatal',
        discardPartial: false,
        error: new NotFoundError(`the controller has no artifact ${sha256} (${what})`),
      };
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return {
        kind: 'fatal',
        discardPartial: false,
        error: new UnauthenticatedError(`the controller refused the download of ${sha256} (${what})`),
      };
    case grpc.status.OUT_OF_RANGE:
    case grpc.status.DATA_LOSS:
      return {
        kind: 'fatal',
        discardPartial: true,
        error: new IntegrityError(`the controller's copy of artifact ${sha256} does not match its descriptor (${what})`),
      };
    case grpc.status.INVALID_ARGUMENT:
      return { kind: 'fatal', discardPartial: false, error: new ValidationError(`the controller refused the download (${what})`) };
    default:
      return { kind: 'fatal', discardPartial: false, error: new UnavailableError(`the controller refused the download (${what})`) };
  }
}

export function exhausted(sha256: string, size: number, offset: number, tries: number, last: Outcome | undefined): FlotillaError {
  const details = { size, received: offset, attempts: tries };
  if (last?.kind === 'short') {
    return new IntegrityError(
      `the controller kept ending the download of artifact ${sha256} early: ${offset} of ${size} bytes after ${tries} attempts`,
      { details },
    );
  }
  const why = last?.kind === 'transient' ? `: ${last.error.message}` : '';
  return new UnavailableError(
    `cannot download artifact ${sha256} from the controller (${offset} of ${size} bytes after ${tries} attempts without progress)${why}`,
    { details },
  );
}
