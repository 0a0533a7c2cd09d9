import { FlotillaError, errorClassFor, type LogLevel } from '@flotilla/shared';
import type { RetryPolicy } from '../install/download.js';
import type { ReleaseMarker, UnpackLimits } from '../install/types.js';

/** What the work thread is started with. */
export interface WorkThreadData {
  log: { level: LogLevel; pretty?: boolean };
}

/** A download as the work thread runs it: downloadArtifact's options, with an address instead of a client. */
export interface DownloadTask {
  /** The controller's gRPC address. */
  controller: string;
  token?: string;
  /** TLS to the controller: CA, and this host's own certificate and key (file paths). */
  tls?: { ca: string; cert: string; key: string };
  sha256: string;
  size: number;
  cacheDir: string;
  retry?: Partial<RetryPolicy>;
  idleTimeoutMs?: number;
}

/** unpackRelease's options, without the logger and the signal. */
export interface UnpackTask {
  tarball: string;
  releasesDir: string;
  version: string;
  limits?: Partial<UnpackLimits>;
  marker?: ReleaseMarker;
}

export type WorkTask =
  | { kind: 'download'; options: DownloadTask }
  | { kind: 'unpack'; options: UnpackTask }
  /** The host's inventory (systeminformation), once at start. */
  | { kind: 'inventory' };

export type ToWorkThread =
  | { type: 'run'; id: number; task: WorkTask }
  | { type: 'abort'; id: number; reason: string }
  /** Flush the logs and end the thread. */
  | { type: 'exit' };

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  details?: Record<string, unknown>;
}

export type FromWorkThread = { type: 'done'; id: number; result: unknown } | { type: 'failed'; id: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof FlotillaError) return { name: err.name, message: err.message, code: err.code, details: { ...err.details } };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

/**
 * The error again on this side of the thread boundary, as the class the caller tells failures
 * apart by (an integrity failure is not retried, an unavailable controller is); an abort stays an
 * AbortError.
 */
export function deserializeError(e: SerializedError): Error {
  const Class = e.code === undefined ? undefined : errorClassFor(e.code);
  if (Class) return new Class(e.message, e.details ? { details: e.details } : {});
  const err = new Error(e.message);
  err.name = e.name;
  if (e.code !== undefined) Object.assign(err, { code: e.code });
  return err;
}
