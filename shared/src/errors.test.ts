import { describe, expect, it } from 'vitest';
import {
  BodyTooLargeError,
  ConfigError,
  ConflictError,
  ControllerError,
  EXIT,
  FlotillaError,
  HookFailedError,
  IntegrityError,
  InternalError,
  ManifestError,
  NotFoundError,
  OutOfRangeError,
  SignatureError,
  UnauthenticatedError,
  UnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
  entryOf,
  errorClassFor,
  errorEntries,
  httpStatusOf,
  isCallerFault,
} from './errors.js';

describe('errorClassFor', () => {
  it('names the class of every code, so an error rebuilt from its code keeps its class', () => {
    for (const original of [new IntegrityError('bad bytes'), new UnavailableError('no controller'), new ConflictError('taken'), new InternalError('bug')]) {
      const Class = errorClassFor(original.code);
      expect(Class).toBeDefined();
      const rebuilt = new Class!(original.message);
      expect(rebuilt).toBeInstanceOf(original.constructor);
      expect(rebuilt.code).toBe(original.code);
    }
  });

  it('knows no other codes, Object members included', () => {
    expect(errorClassFor('ENOENT')).toBeUndefined();
    expect(errorClassFor('constructor')).toBeUndefined();
    expect(errorClassFor('FLOTILLA_ERR_SOMETHING_NEW')).toBeUndefined();
  });
});

describe('the error table', () => {
  it('has one row per code, whose class carries that code', () => {
    const codes = errorEntries().map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const entry of errorEntries()) {
      const err = new entry.Class('x');
      expect(err.code).toBe(entry.code);
      expect(entryOf(err)).toBe(entry);
    }
    expect(errorClassFor('FLOTILLA_ERR_OUT_OF_RANGE')).toBe(OutOfRangeError);
    expect(errorClassFor('FLOTILLA_ERR_HOOK')).toBe(HookFailedError);
  });

  it('gives the CLI exit codes docs/cli.md promises for errors the CLI raises itself', () => {
    const cases: [FlotillaError, number][] = [
      [new ValidationError('x'), EXIT.USAGE],
      [new ConfigError('x'), EXIT.USAGE],
      [new IntegrityError('x'), EXIT.USAGE],
      [new SignatureError('x'), EXIT.USAGE],
      [new UnavailableError('x'), EXIT.UNREACHABLE],
      [new NotFoundError('x'), EXIT.FAILED],
      [new ManifestError('x'), EXIT.FAILED],
      [new InternalError('x'), EXIT.FAILED],
    ];
    for (const [err, exit] of cases) expect(entryOf(err).exit, err.code).toBe(exit);
    // The table has no row for a refusal from the controller: the CLI treats it apart.
    expect(entryOf(new ControllerError('FLOTILLA_ERR_VALIDATION', 'x', 'INVALID_ARGUMENT')).exit).toBe(EXIT.USAGE);
  });

  it('answers webhooks with 4xx for what the sender got wrong and 503 where it should retry', () => {
    expect(httpStatusOf(new ValidationError('x'))).toBe(400);
    expect(httpStatusOf(new UnauthenticatedError('x'))).toBe(401);
    expect(httpStatusOf(new NotFoundError('x'))).toBe(404);
    expect(httpStatusOf(new BodyTooLargeError('x'))).toBe(413);
    expect(httpStatusOf(new UnsupportedMediaTypeError('x'))).toBe(415);
    expect(httpStatusOf(new UnavailableError('x'))).toBe(503);
    expect(httpStatusOf(new ConfigError('x'))).toBe(503);
    expect(httpStatusOf(new ConflictError('x'))).toBe(500);
    expect(httpStatusOf(new TypeError('x'))).toBe(500);
  });

  it('tells caller faults from ours, and anything not Flotilla\'s is ours', () => {
    expect(isCallerFault(new SignatureError('x'))).toBe(true);
    expect(isCallerFault(new OutOfRangeError('x'))).toBe(true);
    expect(isCallerFault(new UnavailableError('x'))).toBe(false);
    expect(isCallerFault(new Error('x'))).toBe(false);
  });
});
