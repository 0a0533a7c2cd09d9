import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { FlotillaError, IntegrityError, NotFoundError, SHA256_HEX, UnavailableError, errorMessage, type Logger } from '@flotilla/shared';

/** The JetStream object store holding every release's bytes, named by their SHA-256. */
export const RELEASES_OBJECT_BUCKET = 'flotilla_releases';

/**
 * The durable, replicated copy of release bytes (the seam ArtifactStore needs). A controller's
 * `<dataDir>/artifacts/` is only a cache of it: an upload is acknowledged after `putFile`
 * resolves, and a controller that lacks bytes fetches them with `fetchTo`.
 */
export interface ReleaseObjects {
  has(sha256: string): Promise<boolean>;
  /** Stores the file at `path` under `sha256`; resolves once JetStream has acknowledged every chunk. */
  putFile(sha256: string, path: string): Promise<void>;
  /**
   * Writes the bytes stored under `sha256` to `path` (created, must not exist), hashing them on
   * the way; IntegrityError (and no file) when they do not hash to `sha256`, NotFoundError when
   * there are none.
   */
  fetchTo(sha256: string, path: string): Promise<number>;
  /** Deletes the bytes stored under `sha256` (nothing when there are none). */
  delete(sha256: string): Promise<void>;
  /**
   * Calls `onDeleted` with the SHA-256 of every release deleted from now on, by any controller:
   * each controller drops its cached copy. Resolves with the function that stops it.
   */
  watchDeleted(onDeleted: (sha256: string) => void, logger: Logger): Promise<() => void>;
}

/** Opens (creating when missing) the releases object store with `replicas` replicas. */
export async function openReleaseObjects(nc: NatsConnection, replicas: number): Promise<ReleaseObjects> {
  let os: ObjectStore;
  try {
    os = await new Objm(nc).create(RELEASES_OBJECT_BUCKET, { replicas });
  } catch (err) {
    throw new UnavailableError(`cannot open object store ${RELEASES_OBJECT_BUCKET}: ${errorMessage(err)}`, { cause: err });
  }
  return new JetStreamReleaseObjects(os);
}

class JetStreamReleaseObjects implements ReleaseObjects {
  constructor(private readonly os: ObjectStore) {}

  async has(sha256: string): Promise<boolean> {
    const info = await this.call('read', sha256, () => this.os.info(sha256));
    return info !== null && !info.deleted;
  }

  async putFile(sha256: string, path: string): Promise<void> {
    await this.call('write', sha256, () =>
      this.os.put({ name: sha256 }, Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>, { timeout: 30_000 }),
    );
  }

  async fetchTo(sha256: string, path: string): Promise<number> {
    const result = await this.call('read', sha256, () => this.os.get(sha256));
    if (!result || result.info.deleted) throw new NotFoundError(`no release bytes with SHA-256 ${sha256} in ${RELEASES_OBJECT_BUCKET}`);
    const hash = createHash('sha256');
    const handle = await open(path, 'wx', 0o644);
    let written = 0;
    try {
      const reader = result.data.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        let at = 0;
        while (at < value.length) at += (await handle.write(value, at, value.length - at)).bytesWritten;
        written += value.length;
      }
      const failed = await result.error;
      if (failed) throw new UnavailableError(`reading ${sha256} from ${RELEASES_OBJECT_BUCKET} failed: ${errorMessage(failed)}`, { cause: failed });
      const actual = hash.digest('hex');
      if (actual !== sha256) {
        throw new IntegrityError(`release bytes stored as ${sha256} hash to ${actual}`, { details: { actual, expected: sha256 } });
      }
      await handle.sync();
    } catch (err) {
      await handle.close().catch(() => undefined);
      await rm(path, { force: true });
      throw err;
    }
    await handle.close();
    return written;
  }

  async delete(sha256: string): Promise<void> {
    if (!(await this.has(sha256))) return;
    await this.call('delete', sha256, () => this.os.delete(sha256));
  }

  async watchDeleted(onDeleted: (sha256: string) => void, logger: Logger): Promise<() => void> {
    const it = await this.call('watch', '>', () => this.os.watch({ includeHistory: false }));
    void (async () => {
      for await (const info of it) {
        if (info?.deleted && SHA256_HEX.test(info.name)) onDeleted(info.name);
      }
    })().catch((err: unknown) => logger.warn({ err }, 'release deletion watch ended'));
    return () => it.stop();
  }

  private async call<R>(op: string, name: string, fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FlotillaError) throw err;
      throw new UnavailableError(`cannot ${op} "${name}" in object store ${RELEASES_OBJECT_BUCKET}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

/**
 * Puts every release file in `dir` that the object store lacks: a data directory from before the
 * object store (one controller, bytes only on its disk) becomes the cluster's durable copy at
 * start. A file whose bytes do not hash to its name is skipped with a warning, never copied.
 */
export async function migrateLocalReleases(dir: string, objects: ReleaseObjects, logger: Logger): Promise<{ copied: string[]; skipped: string[] }> {
  const copied: string[] = [];
  const skipped: string[] = [];
  for (const name of await readdir(dir)) {
    const m = /^([0-9a-f]{64})\.tar\.gz$/.exec(name);
    if (!m || !SHA256_HEX.test(m[1]!)) continue;
    const sha256 = m[1]!;
    if (await objects.has(sha256)) continue;
    const path = join(dir, name);
    const actual = await hashFile(path);
    if (actual !== sha256) {
      logger.warn({ sha256, actual }, 'local release bytes do not match their name; not copied to the object store');
      skipped.push(sha256);
      continue;
    }
    await objects.putFile(sha256, path);
    logger.info({ sha256 }, 'local release copied to the object store');
    copied.push(sha256);
  }
  return { copied, skipped };
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Moves a fetched file into the cache and makes the rename durable. */
export async function renameDurably(from: string, to: string, dir: string): Promise<void> {
  await rename(from, to);
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
