/**
 * One error base for all of Flotilla. `code` is stable (scripts and tests match on it), `message`
 * names what is wrong in words an operator can act on, `details` carries the structured facts.
 */
export class FlotillaError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

type ErrorOptions = ConstructorParameters<typeof FlotillaError>[2];

/** A configuration file, flag or environment variable is missing or malformed. */
export class ConfigError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_CONFIG', message, options);
  }
}

/** Input from a caller (CLI argument, API request, message) is malformed. */
export class ValidationError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_VALIDATION', message, options);
  }
}

/** A signature is missing, malformed, or does not verify against any trusted key. */
export class SignatureError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_SIGNATURE', message, options);
  }
}

/** Bytes do not match what their descriptor promises (size or SHA-256). */
export class IntegrityError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_INTEGRITY', message, options);
  }
}

/** A tarball breaks the unpack rules (paths, links, device files, modes, size caps). */
export class UnsafeArchiveError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_UNSAFE_ARCHIVE', message, options);
  }
}

/** The app's flotilla.json is missing or invalid. */
export class ManifestError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_MANIFEST', message, options);
  }
}

/** An app, version, host, artifact or rollout the caller named does not exist. */
export class NotFoundError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_NOT_FOUND', message, options);
  }
}

/** The thing already exists, or the request conflicts with current state (e.g. a running rollout). */
export class ConflictError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_CONFLICT', message, options);
  }
}

/** A peer (controller, NATS) could not be reached or did not answer in time. */
export class UnavailableError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_UNAVAILABLE', message, options);
  }
}

/** The caller did not present valid credentials. */
export class UnauthenticatedError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_UNAUTHENTICATED', message, options);
  }
}

/** An assignment is older than (or equal to) one already accepted: a replay or a stale message. */
export class StaleAssignmentError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_STALE_ASSIGNMENT', message, options);
  }
}

/** Something that should not happen did; the message says what. */
export class InternalError extends FlotillaError {
  constructor(message: string, options?: ErrorOptions) {
    super('FLOTILLA_ERR_INTERNAL', message, options);
  }
}

export type FlotillaErrorClass = new (message: string, options?: ErrorOptions) => FlotillaError;

const CLASS_BY_CODE: Readonly<Record<string, FlotillaErrorClass>> = Object.freeze({
  FLOTILLA_ERR_CONFIG: ConfigError,
  FLOTILLA_ERR_VALIDATION: ValidationError,
  FLOTILLA_ERR_SIGNATURE: SignatureError,
  FLOTILLA_ERR_INTEGRITY: IntegrityError,
  FLOTILLA_ERR_UNSAFE_ARCHIVE: UnsafeArchiveError,
  FLOTILLA_ERR_MANIFEST: ManifestError,
  FLOTILLA_ERR_NOT_FOUND: NotFoundError,
  FLOTILLA_ERR_CONFLICT: ConflictError,
  FLOTILLA_ERR_UNAVAILABLE: UnavailableError,
  FLOTILLA_ERR_UNAUTHENTICATED: UnauthenticatedError,
  FLOTILLA_ERR_STALE_ASSIGNMENT: StaleAssignmentError,
  FLOTILLA_ERR_INTERNAL: InternalError,
});

/**
 * The class whose errors carry `code`, or undefined for a code that is not one of these: for
 * rebuilding an error that crossed a process or thread boundary as its code and message, so that
 * the receiver can still tell failures apart by class.
 */
export function errorClassFor(code: string): FlotillaErrorClass | undefined {
  return Object.hasOwn(CLASS_BY_CODE, code) ? CLASS_BY_CODE[code] : undefined;
}

/** Normalises anything thrown into a FlotillaError, keeping the original as `cause`. */
export function toFlotillaError(err: unknown): FlotillaError {
  if (err instanceof FlotillaError) return err;
  if (err instanceof Error) return new InternalError(err.message, { cause: err });
  return new InternalError(String(err));
}

/** A one-line description of any thrown value, for logs and status reports. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
