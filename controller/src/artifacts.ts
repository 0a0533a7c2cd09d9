import { createHash, randomUUID, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ConflictError,
  IntegrityError,
  InternalError,
  NotFoundError,
  SHA256_HEX,
  SignatureError,
  ValidationError,
  errorMessage,
  verifyDescriptor,
  CONFLICT_KIND,
  OutOfRangeError,
  type Descriptor,
  type Logger,
  type Signed,
  type TrustedKey,
} from '@flotilla/shared';
import { KeyedMutex } from './concurrency.js';
import { readReleaseManifest } from './release-manifest.js';
import { renameDurably, type ReleaseObjects } from './release-objects.js';
import type { JsonBucket } from './store/kv.js';
import { artifactKey, type AppRecord, type ArtifactRecord } from './store/records.js';
import { pathExists } from './path-exists.js';

export interface ArtifactStoreOptions {
  /** The controller's data directory; artifacts live in `<dataDir>/artifacts/`. */
  dataDir: string;
  /** Release signers' public keys; an upload must verify against one of them. */
  trusted: readonly TrustedKey[];
  /** Largest artifact an upload may announce. */
  maxBytes: number;
  buckets: { artifacts: JsonBucket<ArtifactRecord>; apps: JsonBucket<AppRecord> };
  logger: Logger;
  /**
   * The durable, replicated copy of release bytes; the artifacts directory is then a cache of it.
   * @default none: the directory is the only copy (tests of this module alone)
   */
  objects?: ReleaseObjects;
  /** @default Date.now */
  now?: () => number;
}

/** The outcome of a successful upload. */
export interface UploadResult {
  record: ArtifactRecord;
  /** The same app, version and bytes were already stored: nothing changed. */
  alreadyPresent: boolean;
}

/** What `remove` deleted. */
export interface RemovedArtifact {
  record: ArtifactRecord;
  /** False when another version still names the same bytes: they stay on disk. */
  bytesRemoved: boolean;
}

/** An artifact opened for reading from an offset. The caller closes `handle`. */
export interface OpenArtifact {
  handle: FileHandle;
  size: number;
}

const TEMP_PREFIX = '.upload-';

/**
 * Artifacts by content: bytes at `<dataDir>/artifacts/<sha256>.tar.gz`, descriptors and
 * signatures in the `flotilla_artifacts` bucket, and an `flotilla_apps` record per app.
 * Nothing is recorded for an upload that is refused, and its temporary file is removed.
 */
export class ArtifactStore {
  readonly dir: string;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly recording = new KeyedMutex();
  /** Held while a file is moved in or removed: two versions may share one file (the same bytes). */
  private readonly files = new KeyedMutex();
  private readonly filling = new KeyedMutex();

  private constructor(private readonly opts: ArtifactStoreOptions) {
    this.dir = join(opts.dataDir, 'artifacts');
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger;
  }

  /** Creates the artifacts directory and removes uploads a previous run left half written. */
  static async open(opts: ArtifactStoreOptions): Promise<ArtifactStore> {
    const store = new ArtifactStore(opts);
    await mkdir(store.dir, { recursive: true });
    for (const name of await readdir(store.dir)) {
      if (name.startsWith(TEMP_PREFIX)) await rm(join(store.dir, name), { force: true });
    }
    return store;
  }

  /** Where the bytes of the artifact with this SHA-256 live. */
  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new ValidationError(`"${sha256}" is not a SHA-256 (64 lowercase hex digits)`);
    return join(this.dir, `${sha256}.tar.gz`);
  }

  /**
   * Starts an upload from its signed descriptor. Everything that can be refused before a single
   * byte arrives is refused here: a missing or untrusted signature, a bad descriptor, a size over
   * the limit, and a version that already exists with other bytes.
   */
  async beginUpload(signed: Signed): Promise<UploadSession> {
    if (!signed.signature) {
      throw new SignatureError('upload is unsigned: its descriptor carries no signature; sign it with a release key');
    }
    const descriptor = verifyDescriptor(signed, this.opts.trusted);
    if (descriptor.size > this.opts.maxBytes) {
      throw new ValidationError(
        `${descriptor.app}@${descriptor.version} is ${descriptor.size} bytes, over the controller's limit of ${this.opts.maxBytes} (artifacts.maxBytes)`,
      );
    }
    const existing = await this.opts.buckets.artifacts.get(artifactKey(descriptor.app, descriptor.version));
    if (existing && existing.value.sha256 !== descriptor.sha256) throw versionTaken(descriptor, existing.value);
    const tempPath = join(this.dir, `${TEMP_PREFIX}${randomUUID()}.partial`);
    const handle = await open(tempPath, 'wx', 0o644);
    return new UploadSession(this, descriptor, signed, tempPath, handle);
  }

  /** @internal Records a verified upload: called by UploadSession.finish. */
  async record(session: UploadSession, tempPath: string): Promise<UploadResult> {
    const { descriptor } = session;
    const key = artifactKey(descriptor.app, descriptor.version);
    return this.recording.run(key, () => this.files.run(descriptor.sha256, async () => {
      const finalPath = this.pathOf(descriptor.sha256);
      const existing = await this.opts.buckets.artifacts.get(key);
      if (existing) {
        if (existing.value.sha256 !== descriptor.sha256) throw versionTaken(descriptor, existing.value);
        // Same bytes again: idempotent. Put them back where they went missing (the object store
        // after an interrupted store or a raced deletion, this disk).
        await this.ensureObject(descriptor.sha256, tempPath);
        if (await pathExists(finalPath)) await rm(tempPath, { force: true });
        else await this.moveIntoPlace(tempPath, finalPath);
        await this.ensureApp(descriptor.app);
        return { record: existing.value, alreadyPresent: true };
      }
      const record: ArtifactRecord = {
        app: descriptor.app,
        version: descriptor.version,
        sha256: descriptor.sha256,
        size: descriptor.size,
        keyId: session.signed.keyId,
        uploadedAtMs: this.now(),
        signed: { payload: session.signed.payload, keyId: session.signed.keyId, signature: session.signed.signature },
      };
      // The replicated copy first: once the record exists any controller may be asked for the
      // bytes, and the upload is acknowledged only when they survive the loss of this machine.
      if (this.opts.objects) await this.opts.objects.putFile(descriptor.sha256, tempPath);
      // Record first, then move the bytes in: a crash in between leaves a record whose file is
      // missing, which the next upload of the same bytes repairs; the other order could leave
      // bytes on disk that no record vouches for after a refused (conflicting) upload.
      try {
        await this.opts.buckets.artifacts.create(key, record);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        const raced = await this.opts.buckets.artifacts.get(key);
        if (!raced || raced.value.sha256 !== descriptor.sha256) {
          throw raced ? versionTaken(descriptor, raced.value) : err;
        }
        if (await pathExists(finalPath)) await rm(tempPath, { force: true });
        else await this.moveIntoPlace(tempPath, finalPath);
        return { record: raced.value, alreadyPresent: true };
      }
      // Retention on the leader may have deleted the same bytes (another version's) between the
      // put and the record: the record must not stand without them.
      await this.ensureObject(descriptor.sha256, tempPath);
      try {
        await this.moveIntoPlace(tempPath, finalPath);
      } catch (err) {
        await this.opts.buckets.artifacts.delete(key).catch(() => undefined);
        throw new InternalError(`cannot store ${descriptor.app}@${descriptor.version}: ${errorMessage(err)}`, { cause: err });
      }
      await this.ensureApp(descriptor.app);
      this.logger.info(
        { app: descriptor.app, version: descriptor.version, sha256: descriptor.sha256, size: descriptor.size, keyId: record.keyId },
        'artifact stored',
      );
      return { record, alreadyPresent: false };
    }));
  }

  /**
   * Deletes one version: its record, then its bytes unless another version's record names the
   * same SHA-256. Whether the version may go is the caller's decision (retention/). Null when
   * there was no such version.
   */
  async remove(app: string, version: string): Promise<RemovedArtifact | null> {
    const key = artifactKey(app, version);
    return this.recording.run(key, async () => {
      const entry = await this.opts.buckets.artifacts.get(key);
      if (!entry) return null;
      const record = entry.value;
      return this.files.run(record.sha256, async () => {
        // The record goes first: a crash before the file is removed leaves bytes no record names
        // (harmless, and the same bytes pushed again reuse them), never a record without bytes.
        // The replicated copy goes last: every controller drops its cache when it sees the deletion.
        await this.opts.buckets.artifacts.delete(key);
        const shared = (await this.opts.buckets.artifacts.list()).some((e) => e.value.sha256 === record.sha256);
        if (!shared) {
          const path = this.pathOf(record.sha256);
          const objects = this.opts.objects;
          if (objects) {
            await objects.delete(record.sha256);
            // Another controller may have recorded the same bytes for another version between
            // the check and the deletion: put them back from this cache before dropping it.
            if ((await this.opts.buckets.artifacts.list()).some((e) => e.value.sha256 === record.sha256)) {
              if (await pathExists(path)) await objects.putFile(record.sha256, path);
              this.logger.warn({ sha256: record.sha256 }, 'release bytes recorded again while being deleted; kept');
              return { record, bytesRemoved: false };
            }
          }
          await rm(path, { force: true });
        }
        this.logger.info({ app, version, sha256: record.sha256, size: record.size, bytesRemoved: !shared }, 'artifact removed');
        return { record, bytesRemoved: !shared };
      });
    });
  }

  /**
   * Drops the cached bytes of a release deleted elsewhere (another controller ran retention),
   * unless a record still names them: the same bytes pushed again since.
   */
  async dropCached(sha256: string): Promise<boolean> {
    return this.files.run(sha256, async () => {
      if ((await this.opts.buckets.artifacts.list()).some((e) => e.value.sha256 === sha256)) return false;
      const path = this.pathOf(sha256);
      if (!(await pathExists(path))) return false;
      await rm(path, { force: true });
      this.logger.info({ sha256 }, 'cached release dropped: deleted from the object store');
      return true;
    });
  }

  /**
   * Drops every cached release no record names (deleted while this controller was down). Only
   * with an object store: without one the cache is the only copy, and retention removes it.
   */
  async pruneCache(): Promise<string[]> {
    if (!this.opts.objects) return [];
    const named = new Set((await this.opts.buckets.artifacts.list()).map((e) => e.value.sha256));
    const dropped: string[] = [];
    for (const name of await readdir(this.dir)) {
      const m = /^([0-9a-f]{64})\.tar\.gz$/.exec(name);
      if (!m || named.has(m[1]!)) continue;
      if (await this.dropCached(m[1]!)) dropped.push(m[1]!);
    }
    return dropped;
  }

  /** Puts the bytes at `path` into the object store when it lacks `sha256`. */
  private async ensureObject(sha256: string, path: string): Promise<void> {
    if (this.opts.objects && !(await this.opts.objects.has(sha256))) await this.opts.objects.putFile(sha256, path);
  }

  /** The artifact record of one version, or null. */
  async get(app: string, version: string): Promise<ArtifactRecord | null> {
    return (await this.opts.buckets.artifacts.get(artifactKey(app, version)))?.value ?? null;
  }

  /** Every artifact (of one app, when given), by app and then upload time, oldest first. */
  async list(app?: string): Promise<ArtifactRecord[]> {
    const entries = await this.opts.buckets.artifacts.list(app ? `${app}.>` : undefined);
    return entries
      .map((e) => e.value)
      .sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : a.uploadedAtMs - b.uploadedAtMs));
  }

  /** Opens an artifact's bytes to be read from `offset`; NotFoundError / OutOfRangeError otherwise. */
  async openForDownload(sha256: string, offset: number): Promise<OpenArtifact> {
    const path = this.pathOf(sha256);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!this.opts.objects) throw new NotFoundError(`no artifact with SHA-256 ${sha256} is stored`);
      await this.fillCache(sha256, path, this.opts.objects);
      handle = await open(path, 'r');
    }
    const { size } = await handle.stat();
    if (offset > size) {
      await handle.close();
      throw new OutOfRangeError(`offset ${offset} is past the end of artifact ${sha256} (${size} bytes)`, {
        details: { offset, size },
      });
    }
    return { handle, size };
  }

  /** Copies bytes from the object store into the cache; concurrent downloads wait for one copy. */
  private async fillCache(sha256: string, path: string, objects: ReleaseObjects): Promise<void> {
    await this.filling.run(sha256, async () => {
      if (await pathExists(path)) return;
      const tempPath = join(this.dir, `${TEMP_PREFIX}${randomUUID()}.partial`);
      const bytes = await objects.fetchTo(sha256, tempPath);
      await renameDurably(tempPath, path, this.dir);
      this.logger.info({ sha256, bytes }, 'release cached from the object store');
    });
  }

  private async moveIntoPlace(tempPath: string, finalPath: string): Promise<void> {
    await rename(tempPath, finalPath);
    // The rename is only durable once the directory itself is on disk.
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  private async ensureApp(app: string): Promise<void> {
    if (await this.opts.buckets.apps.get(app)) return;
    try {
      await this.opts.buckets.apps.create(app, {
        name: app,
        stableVersion: null,
        stableSinceMs: null,
        createdAtMs: this.now(),
      });
      this.logger.info({ app }, 'app registered');
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err; // created meanwhile: fine
    }
  }
}

/**
 * One upload in progress: bytes go to a temporary file in the artifacts directory (so the final
 * rename stays on one filesystem) while they are hashed. Call `write` per chunk, then `finish`;
 * on any failure call `abort`, which removes the temporary file.
 */
export class UploadSession {
  private readonly hash: Hash = createHash('sha256');
  private received = 0;
  private closed = false;

  /** @internal Use ArtifactStore.beginUpload. */
  constructor(
    private readonly store: ArtifactStore,
    readonly descriptor: Descriptor,
    readonly signed: Signed,
    private readonly tempPath: string,
    private readonly handle: FileHandle,
  ) {}

  get bytesReceived(): number {
    return this.received;
  }

  /** Appends a chunk; refuses at once when the bytes would exceed the descriptor's size. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.closed) throw new InternalError('upload is already finished');
    if (chunk.length === 0) return;
    const { size, app, version } = this.descriptor;
    if (this.received + chunk.length > size) {
      throw new IntegrityError(
        `artifact is larger than its descriptor says: more than ${size} bytes arrived for ${app}@${version}`,
        { details: { size } },
      );
    }
    this.hash.update(chunk);
    this.received += chunk.length;
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, done, chunk.length - done);
      done += bytesWritten;
    }
  }

  /**
   * Checks size and SHA-256 against the descriptor, then that the tarball carries a valid
   * flotilla.json for this app and version, then makes the file durable and records it.
   */
  async finish(): Promise<UploadResult> {
    if (this.closed) throw new InternalError('upload is already finished');
    const { size, sha256, app, version } = this.descriptor;
    try {
      if (this.received !== size) {
        throw new IntegrityError(
          `artifact is truncated: ${this.received} of the ${size} bytes its descriptor for ${app}@${version} promises arrived`,
          { details: { received: this.received, size } },
        );
      }
      const actual = this.hash.digest('hex');
      if (actual !== sha256) {
        throw new IntegrityError(
          `artifact bytes do not match the descriptor for ${app}@${version}: their SHA-256 is ${actual}, the signed one is ${sha256}`,
          { details: { actual, expected: sha256 } },
        );
      }
      await this.handle.sync();
      await this.handle.close();
      this.closed = true;
      await readReleaseManifest(this.tempPath, { app, version });
      return await this.store.record(this, this.tempPath);
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Drops the upload: closes and removes the temporary file. Safe to call more than once. */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.handle.close().catch(() => undefined);
    }
    await rm(this.tempPath, { force: true });
  }
}

function versionTaken(descriptor: Descriptor, existing: ArtifactRecord): ConflictError {
  return new ConflictError(
    `${descriptor.app}@${descriptor.version} already exists with other bytes (SHA-256 ${existing.sha256}); ` +
      'a version is immutable: push the new bytes as a new version',
    { details: { kind: CONFLICT_KIND.duplicate, app: descriptor.app, version: descriptor.version, sha256: existing.sha256 } },
  );
}

