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
  static readonly code = 'FLOTILLA_ERR_CONFIG';
  constructor(message: string, options?: ErrorOptions) {
    super(ConfigError.code, message, options);
  }
}

/** Input from a caller (CLI argument, API request, message) is malformed. */
export class ValidationError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_VALIDATION';
  constructor(message: string, options?: ErrorOptions) {
    super(ValidationError.code, message, options);
  }
}

/** A signature is missing, malformed, or does not verify against any trusted key. */
export class SignatureError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_SIGNATURE';
  constructor(message: string, options?: ErrorOptions) {
    super(SignatureError.code, message, options);
  }
}

/** Bytes do not match what their descriptor promises (size or SHA-256). */
export class IntegrityError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_INTEGRITY';
  constructor(message: string, options?: ErrorOptions) {
    super(IntegrityError.code, message, options);
  }
}

/** A tarball breaks the unpack rules (paths, links, device files, modes, size caps). */
export class UnsafeArchiveError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_UNSAFE_ARCHIVE';
  constructor(message: string, options?: ErrorOptions) {
    super(UnsafeArchiveError.code, message, options);
  }
}

/** The app's flotilla.json is missing or invalid. */
export class ManifestError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_MANIFEST';
  constructor(message: string, options?: ErrorOptions) {
    super(ManifestError.code, message, options);
  }
}

/** An app, version, host, artifact or rollout the caller named does not exist. */
export class NotFoundError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_NOT_FOUND';
  constructor(message: string, options?: ErrorOptions) {
    super(NotFoundError.code, message, options);
  }
}

/** The thing already exists, or the request conflicts with current state (e.g. a running rollout).
 * `details.kind` (CONFLICT_KIND) says which. */
export class ConflictError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_CONFLICT';
  constructor(message: string, options?: ErrorOptions) {
    super(ConflictError.code, message, options);
  }
}

/** A peer (controller, NATS) could not be reached or did not answer in time. */
export class UnavailableError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_UNAVAILABLE';
  constructor(message: string, options?: ErrorOptions) {
    super(UnavailableError.code, message, options);
  }
}

/** The caller did not present valid credentials. */
export class UnauthenticatedError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_UNAUTHENTICATED';
  constructor(message: string, options?: ErrorOptions) {
    super(UnauthenticatedError.code, message, options);
  }
}

/** The caller is authenticated but its roles do not grant what it asked for; the message names the permission. */
export class PermissionDeniedError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_PERMISSION_DENIED';
  constructor(message: string, options?: ErrorOptions) {
    super(PermissionDeniedError.code, message, options);
  }
}

/** An assignment is older than (or equal to) one already accepted: a replay or a stale message. */
export class StaleAssignmentError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_STALE_ASSIGNMENT';
  constructor(message: string, options?: ErrorOptions) {
    super(StaleAssignmentError.code, message, options);
  }
}

/** A read asked for bytes past the end of what is stored (a download offset beyond the artifact). */
export class OutOfRangeError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_OUT_OF_RANGE';
  constructor(message: string, options?: ErrorOptions) {
    super(OutOfRangeError.code, message, options);
  }
}

/**
 * A limit on what one caller, or all of them together, may spend (streams, uploads, disk space,
 * messages) is reached. Nothing was changed; the same call may succeed later or once room is made.
 */
export class ResourceExhaustedError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_RESOURCE_EXHAUSTED';
  constructor(message: string, options?: ErrorOptions) {
    super(ResourceExhaustedError.code, message, options);
  }
}

/** A request body larger than the configured limit. */
export class BodyTooLargeError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_BODY_TOO_LARGE';
  constructor(message: string, options?: ErrorOptions) {
    super(BodyTooLargeError.code, message, options);
  }
}

/** A request body that is not JSON by its Content-Type. */
export class UnsupportedMediaTypeError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_MEDIA_TYPE';
  constructor(message: string, options?: ErrorOptions) {
    super(UnsupportedMediaTypeError.code, message, options);
  }
}

/** A step of an activation failed because of the release's own hook. */
export class HookFailedError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_HOOK';
  constructor(message: string, options?: ErrorOptions) {
    super(HookFailedError.code, message, options);
  }
}

/** The host's load balancer refused a change (nginx -t, a reload, a traffic hook); the message carries its words. */
export class BalancerError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_BALANCER';
  constructor(message: string, options?: ErrorOptions) {
    super(BalancerError.code, message, options);
  }
}

/** Something that should not happen did; the message says what. */
export class InternalError extends FlotillaError {
  static readonly code = 'FLOTILLA_ERR_INTERNAL';
  constructor(message: string, options?: ErrorOptions) {
    super(InternalError.code, message, options);
  }
}

/**
 * A peer answered a call with an error: `code` is the one the peer sent (any FLOTILLA_ERR_*), so
 * this class is not in the table. The CLI raises it for the controller's refusals; its message is
 * the controller's own, so the operator sees why it refused.
 */
export class ControllerError extends FlotillaError {
  /** The gRPC status name, e.g. `PERMISSION_DENIED`. */
  readonly status: string;

  constructor(code: string, message: string, status: string, options: { cause?: unknown } = {}) {
    super(code, message, { ...options, details: { status } });
    this.status = status;
  }
}

export type FlotillaErrorClass = (new (message: string, options?: ErrorOptions) => FlotillaError) & { readonly code: string };

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

/** A gRPC status by its name in @grpc/grpc-js's `status` enum (shared does not depend on gRPC). */
export type GrpcStatusName =
  | 'OK'
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

/** Trailing metadata key on which a gRPC server sends the FLOTILLA_ERR_* code of a failed call. */
export const ERROR_CODE_METADATA = 'flotilla-error-code';

/** The CLI's exit codes (fixed by the contract scripts rely on; docs/cli.md). */
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

/** Everything a boundary needs to know about one error code. */
export interface ErrorEntry {
  readonly code: string;
  readonly Class: FlotillaErrorClass;
  /** The status a gRPC server answers with. */
  readonly grpc: GrpcStatusName;
  /** Where the status depends on `details.kind` (conflicts): kind → status, else `grpc`. */
  readonly grpcByKind?: Readonly<Record<string, GrpcStatusName>>;
  /** The status the HTTP endpoints (webhooks) answer with. */
  readonly http: number;
  /** The CLI's exit code when the CLI raises it itself (a controller's refusal is always FAILED). */
  readonly exit: ExitCode;
  /** The caller caused it and can fix it: counted as 'refused' rather than 'failed'. */
  readonly callerFault: boolean;
  /** Whether the agent retries an install that failed with it (transient) or waits for a new assignment. */
  readonly retry: 'permanent' | 'transient';
}

type EntryFields = Omit<ErrorEntry, 'code' | 'Class'>;

/**
 * The one table of Flotilla's errors, in the spirit of fastify's lib/errors.js: each code's class,
 * gRPC status, HTTP status, CLI exit code, and how the agent and metrics treat it. Boundaries look
 * an error up here; none maps by hand.
 *
 * HTTP: a 503 (not a 500) where Alertmanager should retry, since it treats 5xx as recoverable and
 * 4xx as final; codes that no webhook raises are 500. gRPC: a bare status from a server that sent
 * no code reads as the first row answering with it (see codeForGrpcStatus), so the row a status
 * should read as comes first.
 */
const ROWS: readonly (readonly [FlotillaErrorClass, EntryFields])[] = [
  [ValidationError, { grpc: 'INVALID_ARGUMENT', http: 400, exit: EXIT.USAGE, callerFault: true, retry: 'permanent' }],
  [ManifestError, { grpc: 'INVALID_ARGUMENT', http: 500, exit: EXIT.FAILED, callerFault: true, retry: 'permanent' }],
  [UnsafeArchiveError, { grpc: 'INVALID_ARGUMENT', http: 500, exit: EXIT.FAILED, callerFault: true, retry: 'permanent' }],
  // Bad configuration is the caller's to fix, but for a webhook it is ours: 503 so the sender retries.
  [ConfigError, { grpc: 'INVALID_ARGUMENT', http: 503, exit: EXIT.USAGE, callerFault: false, retry: 'transient' }],
  [SignatureError, { grpc: 'PERMISSION_DENIED', http: 500, exit: EXIT.USAGE, callerFault: true, retry: 'permanent' }],
  [IntegrityError, { grpc: 'DATA_LOSS', http: 500, exit: EXIT.USAGE, callerFault: true, retry: 'permanent' }],
  [NotFoundError, { grpc: 'NOT_FOUND', http: 404, exit: EXIT.FAILED, callerFault: true, retry: 'transient' }],
  [
    ConflictError,
    {
      grpc: 'FAILED_PRECONDITION',
      grpcByKind: { [CONFLICT_KIND.duplicate]: 'ALREADY_EXISTS' },
      http: 500,
      exit: EXIT.FAILED,
      callerFault: true,
      retry: 'transient',
    },
  ],
  [StaleAssignmentError, { grpc: 'FAILED_PRECONDITION', http: 500, exit: EXIT.FAILED, callerFault: false, retry: 'transient' }],
  [UnauthenticatedError, { grpc: 'UNAUTHENTICATED', http: 401, exit: EXIT.FAILED, callerFault: true, retry: 'transient' }],
  // After SignatureError, whose bare PERMISSION_DENIED older servers send; ours carry the code.
  [PermissionDeniedError, { grpc: 'PERMISSION_DENIED', http: 403, exit: EXIT.FAILED, callerFault: true, retry: 'permanent' }],
  [UnavailableError, { grpc: 'UNAVAILABLE', http: 503, exit: EXIT.UNREACHABLE, callerFault: false, retry: 'transient' }],
  [OutOfRangeError, { grpc: 'OUT_OF_RANGE', http: 500, exit: EXIT.FAILED, callerFault: true, retry: 'transient' }],
  [ResourceExhaustedError, { grpc: 'RESOURCE_EXHAUSTED', http: 429, exit: EXIT.FAILED, callerFault: false, retry: 'transient' }],
  [BodyTooLargeError, { grpc: 'INTERNAL', http: 413, exit: EXIT.FAILED, callerFault: false, retry: 'transient' }],
  [UnsupportedMediaTypeError, { grpc: 'INTERNAL', http: 415, exit: EXIT.FAILED, callerFault: false, retry: 'transient' }],
  [HookFailedError, { grpc: 'INTERNAL', http: 500, exit: EXIT.FAILED, callerFault: false, retry: 'permanent' }],
  // An operator may fix the balancer's configuration at any time: the agent keeps trying.
  [BalancerError, { grpc: 'INTERNAL', http: 500, exit: EXIT.FAILED, callerFault: false, retry: 'transient' }],
  [InternalError, { grpc: 'INTERNAL', http: 500, exit: EXIT.FAILED, callerFault: false, retry: 'transient' }],
];

const ENTRIES: ReadonlyMap<string, ErrorEntry> = new Map(
  ROWS.map(([Class, fields]) => [Class.code, Object.freeze({ code: Class.code, Class, ...fields })]),
);

/** Every row of the table, in order. */
export function errorEntries(): readonly ErrorEntry[] {
  return [...ENTRIES.values()];
}

/** The table's row for `code`, or undefined for a code that is not Flotilla's. */
export function errorEntry(code: string): ErrorEntry | undefined {
  return ENTRIES.get(code);
}

/** The row for anything thrown: its code's, or INTERNAL's for anything else. */
export function entryOf(err: unknown): ErrorEntry {
  return (err instanceof FlotillaError ? ENTRIES.get(err.code) : undefined) ?? (ENTRIES.get(InternalError.code) as ErrorEntry);
}

/**
 * The class whose errors carry `code`, or undefined for a code that is not one of these: for
 * rebuilding an error that crossed a process or thread boundary as its code and message, so that
 * the receiver can still tell failures apart by class.
 */
export function errorClassFor(code: string): FlotillaErrorClass | undefined {
  return ENTRIES.get(code)?.Class;
}

/** The gRPC status a server answers with for `err` (INTERNAL for anything not Flotilla's). */
export function grpcStatusOf(err: unknown): GrpcStatusName {
  const entry = entryOf(err);
  const kind = err instanceof FlotillaError ? err.details.kind : undefined;
  return (typeof kind === 'string' ? entry.grpcByKind?.[kind] : undefined) ?? entry.grpc;
}

/** The status an HTTP endpoint answers with for `err` (500 for anything not Flotilla's). */
export function httpStatusOf(err: unknown): number {
  return entryOf(err).http;
}

/** Whether the caller caused `err` (and can fix it) rather than us. */
export function isCallerFault(err: unknown): boolean {
  return entryOf(err).callerFault;
}

// A bare status that no row answers with but that means one of them.
const EXTRA_CODE_BY_STATUS: Readonly<Partial<Record<GrpcStatusName, string>>> = {
  DEADLINE_EXCEEDED: UnavailableError.code,
};

/**
 * The code a bare gRPC status stands for, from a server that sent no FLOTILLA_ERR_* code: the
 * first row answering with it (INTERNAL when none does).
 */
export function codeForGrpcStatus(name: GrpcStatusName): string {
  for (const entry of ENTRIES.values()) {
    if (entry.grpc === name || Object.values(entry.grpcByKind ?? {}).includes(name)) return entry.code;
  }
  return EXTRA_CODE_BY_STATUS[name] ?? InternalError.code;
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
