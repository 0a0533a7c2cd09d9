import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  CONFLICT_KIND,
  ConflictError,
  ERROR_CODE_METADATA,
  FlotillaError,
  IntegrityError,
  InternalError,
  ManifestError,
  NotFoundError,
  OutOfRangeError,
  SignatureError,
  StaleAssignmentError,
  UnauthenticatedError,
  UnavailableError,
  UnsafeArchiveError,
  ValidationError,
} from '@flotilla/shared';
import { fromServiceError, statusFor, toServiceError } from './errors.js';

describe('FlotillaError → gRPC status', () => {
  it('maps every error class as the contract fixes', () => {
    const cases: [FlotillaError, status][] = [
      [new ValidationError('x'), status.INVALID_ARGUMENT],
      [new ManifestError('x'), status.INVALID_ARGUMENT],
      [new UnsafeArchiveError('x'), status.INVALID_ARGUMENT],
      [new ConfigError('x'), status.INVALID_ARGUMENT],
      [new SignatureError('x'), status.PERMISSION_DENIED],
      [new IntegrityError('x'), status.DATA_LOSS],
      [new StaleAssignmentError('x'), status.FAILED_PRECONDITION],
      [new NotFoundError('x'), status.NOT_FOUND],
      [new ConflictError('x', { details: { kind: CONFLICT_KIND.duplicate } }), status.ALREADY_EXISTS],
      [new ConflictError('x', { details: { kind: 'state' } }), status.FAILED_PRECONDITION],
      [new ConflictError('x'), status.FAILED_PRECONDITION],
      [new UnauthenticatedError('x'), status.UNAUTHENTICATED],
      [new UnavailableError('x'), status.UNAVAILABLE],
      [new OutOfRangeError('x'), status.OUT_OF_RANGE],
      [new InternalError('x'), status.INTERNAL],
      [new FlotillaError('FLOTILLA_ERR_SOMETHING_NEW', 'x'), status.INTERNAL],
    ];
    for (const [err, expected] of cases) expect(statusFor(err), err.code).toBe(expected);
  });

  it('carries the message as details and the code as trailing metadata', () => {
    const e = toServiceError(new IntegrityError('artifact is truncated: 10 of 20 bytes'));
    expect(e.code).toBe(status.DATA_LOSS);
    expect(e.details).toBe('artifact is truncated: 10 of 20 bytes');
    expect(e.metadata?.get(ERROR_CODE_METADATA)).toEqual(['FLOTILLA_ERR_INTEGRITY']);
  });

  it('turns anything else thrown into INTERNAL with its message', () => {
    const e = toServiceError(new TypeError('boom'));
    expect(e.code).toBe(status.INTERNAL);
    expect(e.details).toBe('boom');
    expect(e.metadata?.get(ERROR_CODE_METADATA)).toEqual(['FLOTILLA_ERR_INTERNAL']);
  });
});

describe('gRPC status → FlotillaError (clients)', () => {
  const serviceError = (code: status, details: string, flotillaCode?: string): ServiceError => {
    const metadata = new Metadata();
    if (flotillaCode) metadata.set(ERROR_CODE_METADATA, flotillaCode);
    return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
  };

  it('rebuilds the class the metadata names', () => {
    const err = fromServiceError(serviceError(status.INVALID_ARGUMENT, 'flotilla.json is invalid', 'FLOTILLA_ERR_MANIFEST'));
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.message).toBe('flotilla.json is invalid');
  });

  it('falls back to the status when no code was sent', () => {
    expect(fromServiceError(serviceError(status.PERMISSION_DENIED, 'no'))).toBeInstanceOf(SignatureError);
    expect(fromServiceError(serviceError(status.UNAVAILABLE, 'down'))).toBeInstanceOf(UnavailableError);
    expect(fromServiceError(serviceError(status.UNKNOWN, '?'))).toBeInstanceOf(InternalError);
    expect(fromServiceError(serviceError(status.INVALID_ARGUMENT, 'bad'))).toBeInstanceOf(ValidationError);
    expect(fromServiceError(serviceError(status.ALREADY_EXISTS, 'taken'))).toBeInstanceOf(ConflictError);
    expect(fromServiceError(serviceError(status.FAILED_PRECONDITION, 'busy'))).toBeInstanceOf(ConflictError);
    expect(fromServiceError(serviceError(status.DEADLINE_EXCEEDED, 'slow'))).toBeInstanceOf(UnavailableError);
    expect(fromServiceError(serviceError(status.OUT_OF_RANGE, 'past the end'))).toBeInstanceOf(OutOfRangeError);
  });
});
