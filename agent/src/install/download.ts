import { createHash } from 'node:crypto';
import { close, openSync, writeSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { ArtifactsClient, DownloadChunk__Output } from '@flotilla/proto';
import {
  errorMessage,
  IntegrityError,
  InternalError,
  SHA256_HEX,
  UnavailableError,
  ValidationError,
  type Logger,
} from '@flotilla/shared';
import { withDefaults } from './defaults.js';
import { exhausted, outcomeOfStatus, type Outcome } from './download-outcome.js';
import { cachedFileVerifies, hashPartial, reconcilePartial, unlinkIfPresent, type Progress } from './partial-file.js';

export { createArtifactsClient, DEFAULT_CHANNEL_OPTIONS, type ArtifactsClientOptions } from './artifacts-client.js';

export interface RetryPolicy {
  /** Attempts in a row that bring no new byte before the download gives up. @default 5 */
  readonly attempts: number;
  /** Wait before the first retry; doubles with each further one. @default 250 */
  readonly baseDelayMs: number;
  /** Longest wait between attempts. @default 10000 */
  readonly maxDelayMs: number;
}

export const DEFAULT_DOWNLOAD_RETRY: Readonly<RetryPolicy> = Object.freeze({
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
});

export interface DownloadOptions {
  client: ArtifactsClient;
  /** The descriptor's SHA-256 (64 lowercase hex digits). */
  sha256: string;
  /** The descriptor's size: the download never accepts a byte more. */
  size: number;
  /** `<dataDir>/cache`; created (0700) when missing. */
  cacheDir: string;
  logger: Logger;
  /** Sent as `authorization: Bearer <token>` when the controller requires it. */
  token?: string;
  /** Calls the download off; the promise rejects with the signal's reason, the partial file stays. */
  signal?: AbortSignal;
  /** Called as bytes arrive (also with what was already on disk). */
  onProgress?: (bytes: number, total: number) => void;
  retry?: Partial<RetryPolicy>;
  /** A stream that delivers nothing for this long is dropped and resumed. @default 30000 */
  idleTimeoutMs?: number;
  /** The slowest stream kept: fewer bytes than this per second, over `rateWindowMs`. @default 1024 */
  minBytesPerSecond?: number;
  /** ...measured over windows this long (a stream shorter than one is not judged). @default 60000 */
  rateWindowMs?: number;
  /** The whole download, every attempt and wait included, ends by then. @default 3600000 (1h) */
  deadlineMs?: number;
}

/**
 * The download's time bounds, so a controller (or a man in the middle) that drips a byte at a
 * time cannot hold an install for ever: each byte resets the idle timeout, so it takes a rate.
 */
export const DEFAULT_DOWNLOAD_PACE = Object.freeze({ minBytesPerSecond: 1024, rateWindowMs: 60_000, deadlineMs: 3_600_000 });

/**
 * Resumptions that brought new bytes do not count against `retry.attempts`; this bounds them, so
 * a link that drops every few bytes is reported rather than ground through forever.
 */
const MAX_ATTEMPTS = 100;
/** How long, after a failed status, messages already received may take to be handled. */
const STATUS_GRACE_MS = 1000;

/** Downloads of one cache path run one after the other, never side by side on one partial file. */
const inFlight = new Map<string, Promise<unknown>>();

/**
 * Fetches an artifact into `<cacheDir>/<sha256>.tar.gz` and returns that path, once its size and
 * SHA-256 match the descriptor. Bytes are hashed as they arrive into `<sha256>.partial`; an
 * interrupted download resumes from what is on disk (hashed again first), transient failures are
 * retried with bounded exponential back-off, and a verified file already in the cache is re-hashed
 * and reused. Throws IntegrityError when the bytes do not match (nothing is left in the cache),
 * UnavailableError when the controller cannot be reached, NotFoundError when it has no such
 * artifact.
 */
export async function downloadArtifact(opts: DownloadOptions): Promise<string> {
  const key = join(resolve(opts.cacheDir), opts.sha256);
  const before = inFlight.get(key) ?? Promise.resolve();
  const run = before.catch(() => undefined).then(() => download(opts));
  inFlight.set(key, run);
  try {
    return await run;
  } finally {
    if (inFlight.get(key) === run) inFlight.delete(key);
  }
}

async function download(opts: DownloadOptions): Promise<string> {
  const { sha256, size, cacheDir, signal } = opts;
  if (!SHA256_HEX.test(sha256)) throw new ValidationError(`"${sha256}" is not a SHA-256 (64 lowercase hex digits)`);
  if (!Number.isSafeInteger(size) || size < 0) throw new ValidationError(`artifact size ${size} is not a byte count`);
  const retry = withDefaults(DEFAULT_DOWNLOAD_RETRY, opts.retry);
  const idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  const deadlineMs = opts.deadlineMs ?? DEFAULT_DOWNLOAD_PACE.deadlineMs;
  const log = opts.logger.child({ component: 'download', sha256 });
  signal?.throwIfAborted();

  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const finalPath = join(cacheDir, `${sha256}.tar.gz`);
  const partialPath = join(cacheDir, `${sha256}.partial`);
  if (await cachedFileVerifies(finalPath, sha256, size, log, signal)) {
    log.debug({ path: finalPath }, 'artifact already in cache');
    return finalPath;
  }

  const started = Date.now();
  let progress = await hashPartial(partialPath, size, signal);
  let resumedFromDisk = progress.offset > 0;
  const resumedFrom = progress.offset;
  if (resumedFromDisk) log.info({ offset: progress.offset, size }, 'resuming artifact download');
  opts.onProgress?.(progress.offset, size);

  let attempts = 0;
  let idleAttempts = 0;
  let lastFailure: Outcome | undefined;
  for (;;) {
    if (progress.offset === size) {
      const actual = progress.hash.digest('hex');
      if (actual === sha256) break;
      await unlinkIfPresent(partialPath);
      if (resumedFromDisk) {
        // The prefix on disk may be what was damaged (a crash, a bad disk); one fresh download
        // tells that apart from a controller that serves the wrong bytes.
        log.warn({ expected: sha256, actual }, 'resumed download does not verify; downloading again from the start');
        resumedFromDisk = false;
        progress = { hash: createHash('sha256'), offset: 0 };
        continue;
      }
      throw new IntegrityError(
        `artifact ${sha256} failed verification: expected SHA-256 ${sha256}, got ${actual} over ${size} bytes`,
        { details: { expected: sha256, actual, size } },
      );
    }
    if (Date.now() - started >= deadlineMs) {
      throw new UnavailableError(
        `download of artifact ${sha256} did not finish within ${deadlineMs} ms (${progress.offset} of ${size} bytes); it will be tried again`,
        { details: { offset: progress.offset, size, deadlineMs } },
      );
    }
    if (attempts >= MAX_ATTEMPTS) {
      throw new UnavailableError(`download of artifact ${sha256} did not finish after ${attempts} attempts`, {
        details: { offset: progress.offset, size },
      });
    }
    attempts += 1;
    const offsetBefore = progress.offset;
    const outcome = await runAttempt(opts, progress, partialPath, idleTimeoutMs, started + deadlineMs);
    progress = await reconcilePartial(partialPath, progress, size, signal);

    switch (outcome.kind) {
      case 'complete':
        continue;
      case 'aborted':
        throw abortReason(signal);
      case 'fatal':
        if (outcome.discardPartial) await unlinkIfPresent(partialPath);
        log.warn({ err: outcome.error, offset: progress.offset, size }, 'artifact download failed');
        throw outcome.error;
      case 'short':
      case 'transient':
        break;
    }
    lastFailure = outcome;
    const progressed = progress.offset > offsetBefore && !(outcome.kind === 'transient' && outcome.slow);
    idleAttempts = progressed ? 0 : idleAttempts + 1;
    if (idleAttempts >= retry.attempts) throw exhausted(sha256, size, progress.offset, idleAttempts, lastFailure);
    const delayMs = backoffMs(retry, idleAttempts);
    log.warn(
      {
        attempt: attempts,
        offset: progress.offset,
        size,
        delayMs,
        reason: outcome.kind === 'transient' ? outcome.error.message : 'stream ended early',
      },
      'artifact download interrupted; resuming',
    );
    try {
      await sleep(delayMs, undefined, signal ? { signal } : undefined);
    } catch {
      throw abortReason(signal);
    }
  }

  // No fsync: the cache needs no durability. A file a crash damaged fails the re-hash every
  // cached artifact gets before reuse, and is downloaded again; forcing 1 GiB to the disk here
  // would cost seconds on every install for nothing.
  await rename(partialPath, finalPath);
  log.info({ size, resumedFrom, attempts, ms: Date.now() - started }, 'artifact downloaded and verified');
  return finalPath;
}

/**
 * One Download call from `progress.offset`. Resolves (never rejects) once the partial file is
 * closed, so the next attempt appends to a file whose length is known.
 *
 * Each chunk is hashed and written to the partial file before the next is taken, with a
 * synchronous write: a write to the page cache takes a fraction of a millisecond, and while it
 * runs the connection is not read, so the bytes still to come wait in the socket (then in the
 * controller, under HTTP/2 flow control) rather than in this heap. Queued writes, or a paused
 * call, let the HTTP/2 session buffer megabytes of chunks here; those outlive young-generation
 * collections and cost a full collection every few tens of megabytes.
 */
function runAttempt(opts: DownloadOptions, progress: Progress, partialPath: string, idleTimeoutMs: number, deadlineAtMs: number): Promise<Outcome> {
  const { size, signal } = opts;
  return new Promise<Outcome>((resolvePromise) => {
    if (signal?.aborted) {
      resolvePromise({ kind: 'aborted' });
      return;
    }
    const metadata = new grpc.Metadata();
    if (opts.token) metadata.set('authorization', `Bearer ${opts.token}`);
    let fd: number;
    try {
      fd = openSync(partialPath, 'a', 0o600);
    } catch (err) {
      resolvePromise({
        kind: 'fatal',
        discardPartial: false,
        error: new InternalError(`cannot write the download to ${partialPath}: ${errorMessage(err)}`, { cause: err }),
      });
      return;
    }
    const call = opts.client.Download({ sha256: opts.sha256, offset: String(progress.offset) }, metadata);
    let done = false;
    let ended = false;
    let finalStatus: grpc.StatusObject | undefined;

    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      clearInterval(pace);
      clearTimeout(cut);
      signal?.removeEventListener('abort', onAbort);
      // Stops the server sending (a no-op once the call has its status).
      call.cancel();
      close(fd, () => resolvePromise(outcome));
    };
    const idle = setTimeout(() => {
      finish({
        kind: 'transient',
        error: new UnavailableError(`the controller sent nothing for ${idleTimeoutMs} ms`),
      });
    }, idleTimeoutMs);
    // Each window must bring its share of bytes; a drip that keeps the idle timeout at bay does not.
    const minBytesPerSecond = opts.minBytesPerSecond ?? DEFAULT_DOWNLOAD_PACE.minBytesPerSecond;
    const rateWindowMs = opts.rateWindowMs ?? DEFAULT_DOWNLOAD_PACE.rateWindowMs;
    const minPerWindow = (minBytesPerSecond * rateWindowMs) / 1000;
    let windowStart = progress.offset;
    const pace = setInterval(() => {
      const got = progress.offset - windowStart;
      windowStart = progress.offset;
      if (got < minPerWindow && progress.offset < size) {
        finish({
          kind: 'transient',
          slow: true,
          error: new UnavailableError(
            `the controller sent ${got} bytes in ${rateWindowMs} ms, below the minimum of ${minBytesPerSecond} bytes/s; the download is abandoned for now`,
          ),
        });
      }
    }, rateWindowMs);
    // The attempt ends with the download's deadline; the loop then reports it.
    const cut = setTimeout(
      () => finish({ kind: 'transient', slow: true, error: new UnavailableError('the download reached its deadline') }),
      Math.max(0, deadlineAtMs - Date.now()),
    );
    const onAbort = () => finish({ kind: 'aborted' });
    signal?.addEventListener('abort', onAbort, { once: true });

    call.on('data', (chunk: DownloadChunk__Output) => {
      if (done) return;
      idle.refresh();
      const data = chunk.data;
      if (chunk.offset !== String(progress.offset)) {
        finish({
          kind: 'fatal',
          discardPartial: false,
          error: new IntegrityError(
            `the controller sent bytes for offset ${chunk.offset} of artifact ${opts.sha256}, expected offset ${progress.offset}`,
          ),
        });
        return;
      }
      if (progress.offset + data.length > size) {
        // Not one byte past the signed size is written, or even hashed.
        finish({
          kind: 'fatal',
          discardPartial: true,
          error: new IntegrityError(
            `the controller sent more than the signed size of ${size} bytes for artifact ${opts.sha256}`,
            { details: { size, received: progress.offset + data.length } },
          ),
        });
        return;
      }
      progress.hash.update(data);
      progress.offset += data.length;
      opts.onProgress?.(progress.offset, size);
      try {
        for (let written = 0; written < data.length; ) written += writeSync(fd, data, written);
      } catch (err) {
        finish({
          kind: 'fatal',
          discardPartial: false,
          error: new InternalError(`cannot write the download to ${partialPath}: ${errorMessage(err)}`, { cause: err }),
        });
      }
    });
    call.on('status', (status: grpc.StatusObject) => {
      finalStatus = status;
      if (status.code !== grpc.status.OK && !ended) {
        // Messages that arrived before the failure may still sit in the stream's buffer; taking
        // them in first saves downloading them again. 'end' follows them, or this gives up.
        setTimeout(() => settle(true), STATUS_GRACE_MS).unref();
      }
      settle(false);
    });
    call.on('end', () => {
      ended = true;
      settle(false);
    });
    // Every non-OK status also arrives as 'error'; 'status' above decides what it means.
    call.on('error', () => undefined);

    // Once the status is known and 'end' says every message has been handled (or the grace
    // after a failed status ran out).
    function settle(graceOver: boolean) {
      if (!finalStatus || !(ended || graceOver)) return;
      if (finalStatus.code === grpc.status.OK) {
        finish(progress.offset === size ? { kind: 'complete' } : { kind: 'short' });
      } else {
        finish(outcomeOfStatus(finalStatus, opts.sha256));
      }
    }
  });
}

/** Exponential, capped, with jitter so that a fleet that lost the controller does not return in step. */
function backoffMs(retry: RetryPolicy, failures: number): number {
  const exp = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp / 2 + (Math.random() * exp) / 2);
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return new DOMException(`the download was aborted${reason === undefined ? '' : `: ${errorMessage(reason)}`}`, 'AbortError');
}
