import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, realpath, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  assertVersion,
  ConflictError,
  errorMessage,
  FlotillaError,
  InternalError,
  MANIFEST_FILE,
  ManifestError,
  UnsafeArchiveError,
  type Logger,
} from '@flotilla/shared';
import { ReadEntry, Unpack } from 'tar';
import { ArchiveRules, refuse, unsafeArchive } from './archive-rules.js';
import { resolveContainment } from './containment.js';
import { ArchiveOrderQueue } from './entry-queue.js';
import { withDefaults } from './defaults.js';
import { errnoCode, syncDir } from './durable.js';
import { writeReleaseMarker } from './marker.js';
import { STAGING_PREFIX } from './staging.js';
import { DEFAULT_UNPACK_LIMITS, type ReleaseMarker, type UnpackLimits } from './types.js';


/** A manifest bigger than this is not a manifest. */
const MAX_MANIFEST_BYTES = 1024 * 1024;
const READ_CHUNK = 1024 * 1024;
const INFLATE_CHUNK = 1024 * 1024;
/** Symbolic links checked on disk at once after the unpack. */
const LINK_CHECKS_IN_FLIGHT = 32;
/** How long a refused unpack may take to let writes already under way finish. */
const SETTLE_TIMEOUT_MS = 30_000;
/** Failures of the host, not of the archive: the same tarball may unpack fine later. */
const HOST_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE', 'ENOMEM']);

export interface UnpackOptions {
  /** The verified `.tar.gz`. */
  tarball: string;
  /** `<dataDir>/apps/<app>/releases`; created (0755) when missing. */
  releasesDir: string;
  version: string;
  /** Caps on the archive; missing fields take DEFAULT_UNPACK_LIMITS. */
  limits?: Partial<UnpackLimits>;
  logger: Logger;
  /** Written as `.flotilla-release.json` inside the release before it is renamed into place. */
  marker?: ReleaseMarker;
  /** Calls the unpack off; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface UnpackResult {
  /** `releasesDir/<version>`. */
  dir: string;
  /** Entries in the archive. */
  entries: number;
  /** Bytes the archive's headers declared (what the release occupies, give or take blocks). */
  bytes: number;
  /** The text of `flotilla.json` at the release root, for the caller to validate with parseManifest. */
  manifestText: string;
}

/**
 * Unpacks a release tarball into `releasesDir/<version>`, all or nothing. The archive is read in
 * one pass into a private staging directory; every entry is checked against the unpack rules
 * before any of its bytes are written, symbolic links are checked once more on disk at the end,
 * and only then is the staging directory renamed into place. Anything refused leaves no trace:
 * the staging directory is removed and UnsafeArchiveError names the entry and the rule.
 */
export async function unpackRelease(opts: UnpackOptions): Promise<UnpackResult> {
  const version = assertVersion(opts.version);
  const limits = withDefaults(DEFAULT_UNPACK_LIMITS, opts.limits);
  const log = opts.logger.child({ component: 'unpack', version });
  opts.signal?.throwIfAborted();
  const target = join(opts.releasesDir, version);
  await mkdir(opts.releasesDir, { recursive: true, mode: 0o755 });
  if (await pathExists(target)) {
    throw new ConflictError(`release ${version} is already unpacked at ${target}`, {
      details: { kind: 'release-exists', version },
    });
  }
  const started = Date.now();
  // mkdtemp makes it 0700: nobody else can plant anything in it while the archive is written.
  const staging = await mkdtemp(join(opts.releasesDir, STAGING_PREFIX));
  log.debug({ tarball: opts.tarball, staging }, 'unpacking release');
  const rules = new ArchiveRules(limits);
  try {
    await extract(opts.tarball, staging, rules, limits, opts.signal);
    opts.signal?.throwIfAborted();
    await checkSymlinksOnDisk(staging, rules);
    const manifestText = await readManifest(staging, rules);
    if (opts.marker) await writeReleaseMarker(staging, opts.marker);
    await chmod(staging, 0o755);
    try {
      await rename(staging, target);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new ConflictError(`release ${version} appeared at ${target} while it was being unpacked`, {
          details: { kind: 'release-exists', version },
        });
      }
      throw err;
    }
    await syncDir(opts.releasesDir);
    log.info({ entries: rules.entries, bytes: rules.bytes, ms: Date.now() - started }, 'release unpacked');
    return { dir: target, entries: rules.entries, bytes: rules.bytes, manifestText };
  } catch (err) {
    await removeQuietly(staging, log);
    if (err instanceof UnsafeArchiveError || err instanceof ManifestError) {
      log.warn({ err, rule: err.details.rule, entry: err.details.entry }, 'release archive refused');
    }
    throw err;
  }
}

/**
 * Streams the gzip through zlib into node-tar's Unpack. Gunzipping here rather than inside tar
 * keeps inflation incremental (tar inflates each input chunk at once, in memory) and lets us
 * count inflated bytes against what the headers declared.
 */
async function extract(
  tarball: string,
  cwd: string,
  rules: ArchiveRules,
  limits: UnpackLimits,
  signal: AbortSignal | undefined,
): Promise<void> {
  let failure: Error | undefined;
  const wakeOnStop = new Set<() => void>();
  const stop = (err: Error) => {
    if (failure) return;
    failure = err;
    for (const wake of wakeOnStop) wake();
  };

  const unpack = new Unpack({
    cwd,
    // Every tar warning (bad checksum, truncation, a failed write) fails the whole archive.
    strict: true,
    // Our rules, checked in `filter`, refuse absolute paths, `..` and paths through links before
    // tar sees them. tar's own versions of those guards also refuse legitimate link chains
    // (libfoo.so -> libfoo.so.1 -> libfoo.so.1.2), so they are switched off in favour of ours.
    preservePaths: true,
    preserveOwner: false,
    maxDepth: Infinity,
    brotli: false,
    zstd: false,
    filter: (_path, entry) => {
      if (failure || !(entry instanceof ReadEntry)) return false;
      try {
        const admitted = rules.admit({
          path: entry.path,
          type: entry.type,
          size: entry.size,
          mode: entry.mode,
          linkpath: entry.linkpath,
        });
        entry.path = admitted.path === '' ? '.' : admitted.path;
        if (admitted.mode !== undefined) entry.mode = admitted.mode;
        if (admitted.linkTarget !== undefined) entry.linkpath = admitted.linkTarget;
        return true;
      } catch (err) {
        stop(err as Error);
        return false;
      }
    },
  });
  // tar's own reservations hold every entry until the end (see ArchiveOrderQueue): ours forget
  // each entry once it is written, so memory does not grow with the number of entries.
  unpack.reservations = new ArchiveOrderQueue() as unknown as Unpack['reservations'];
  unpack.on('error', (err: Error) => stop(tarFailure(err)));
  // The archive ends at its two zero blocks; whatever the gzip holds after them is not read.
  let sawEnd = false;
  unpack.on('eof', () => {
    sawEnd = true;
  });
  const closed = new Promise<void>((resolve) => unpack.once('close', () => resolve()));

  const onAbort = () => stop(abortReason(signal));
  signal?.addEventListener('abort', onAbort, { once: true });
  const perEntryOverhead = 3 * 512 + 2 * limits.maxPathLength + 1024;
  const slack = 2 * INFLATE_CHUNK + 20 * 512;
  const inflated = pipeline(
    createReadStream(tarball, { highWaterMark: READ_CHUNK }),
    createGunzip({ chunkSize: INFLATE_CHUNK }),
    () => {
      // Errors surface through the iteration below.
    },
  );
  let inflatedBytes = 0;
  try {
    for await (const chunk of inflated as AsyncIterable<Buffer>) {
      if (failure || sawEnd) break;
      inflatedBytes += chunk.length;
      // Headers were checked as they came; this catches bytes no header accounts for (metadata
      // records tar skips without a look, padding that never ends).
      if (inflatedBytes > rules.bytes + (rules.entries + 1) * perEntryOverhead + slack) {
        stop(unsafeArchive('(archive)', 'max-inflated-bytes', 'the archive inflates to far more bytes than its entries declare'));
        break;
      }
      if (!unpack.write(chunk)) await drained(unpack, wakeOnStop, () => failure !== undefined || sawEnd);
    }
  } catch (err) {
    stop(inputFailure(tarball, err));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  // On a refusal too: ending lets tar finish the writes already under way and then close, so the
  // staging directory is not removed under its feet (and recreated by a late mkdir).
  unpack.end();
  if (failure) {
    await settle(closed, SETTLE_TIMEOUT_MS);
    throw failure;
  }
  await closed;
  if (failure) throw failure;
}

function drained(unpack: Unpack, wakeOnStop: Set<() => void>, stopped: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (stopped()) return resolve();
    const done = () => {
      unpack.off('drain', done);
      wakeOnStop.delete(done);
      resolve();
    };
    unpack.on('drain', done);
    wakeOnStop.add(done);
  });
}

async function settle(closed: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Lexical checks cannot see where a chain of links really leads (`b -> .` then `a -> b/../x`),
 * so every link is resolved on disk once everything is written.
 */
async function checkSymlinksOnDisk(staging: string, rules: ArchiveRules): Promise<void> {
  const root = await realpath(staging);
  const links = rules.symlinks();
  let next = 0;
  const worker = async () => {
    while (next < links.length) {
      const link = links[next++] as string;
      const where = await resolveContainment(root, link);
      if (where === 'outside') refuse(link, 'symlink-realpath', 'once unpacked, the symbolic link resolves outside the release');
      if (where === 'loop') refuse(link, 'symlink-realpath', 'the symbolic link is part of a loop');
    }
  };
  await Promise.all(Array.from({ length: Math.min(LINK_CHECKS_IN_FLIGHT, links.length) }, worker));
}

async function readManifest(staging: string, rules: ArchiveRules): Promise<string> {
  if (rules.kindOf(MANIFEST_FILE) !== 'file') {
    throw new ManifestError(`the release has no ${MANIFEST_FILE} file at its root`, {
      details: { entry: MANIFEST_FILE, rule: 'manifest-missing' },
    });
  }
  const path = join(staging, MANIFEST_FILE);
  const st = await lstat(path);
  if (!st.isFile()) throw new ManifestError(`${MANIFEST_FILE} at the release root is not a regular file`);
  if (st.size > MAX_MANIFEST_BYTES) {
    throw new ManifestError(`${MANIFEST_FILE} is ${st.size} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may have`);
  }
  return readFile(path, 'utf8');
}

/** What a tar 'error' event means for us: a broken archive, or a host that cannot write it. */
function tarFailure(err: Error): FlotillaError {
  const e = err as Error & { code?: unknown; tarCode?: unknown; entry?: { path?: unknown } };
  const entry = typeof e.entry?.path === 'string' ? e.entry.path : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const details = { entry, rule: 'malformed-archive', code, tarCode: e.tarCode };
  if (code !== undefined && HOST_ERRORS.has(code)) {
    return new InternalError(`cannot unpack the release${entry ? ` (entry "${entry}")` : ''}: ${e.message}`, { details });
  }
  return new UnsafeArchiveError(
    `release archive refused: ${entry ? `entry "${entry}": ` : ''}${e.message.replace(/^TAR_[A-Z_]+: /, '')}`,
    { details },
  );
}

function inputFailure(tarball: string, err: unknown): FlotillaError {
  const code = errnoCode(err);
  if (code?.startsWith('Z_') || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new UnsafeArchiveError(`release archive refused: it is not a valid gzip stream (${errorMessage(err)})`, {
      details: { entry: '(archive)', rule: 'malformed-archive', code },
    });
  }
  return new InternalError(`cannot read the release tarball ${tarball}: ${errorMessage(err)}`, { cause: err });
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return new DOMException('the unpack was aborted', 'AbortError');
}

async function removeQuietly(dir: string, log: Logger): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  } catch (err) {
    // cleanStaging removes it at the next start; the failure that brought us here matters more.
    log.warn({ err, dir }, 'cannot remove staging directory');
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
