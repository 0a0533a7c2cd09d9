import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import type { Logger } from '@flotilla/shared';
import { errnoCode } from './durable.js';

const HASH_READ_CHUNK = 1024 * 1024;

/** Where the bytes stand: a running hash over exactly the `offset` bytes in the partial file. */
export interface Progress {
  hash: Hash;
  offset: number;
}

/** True when the cached file is there and verifies; a file that does not verify is deleted. */
export async function cachedFileVerifies(path: string, sha256: string, size: number, log: Logger, signal?: AbortSignal): Promise<boolean> {
  let actualSize: number;
  try {
    actualSize = (await stat(path)).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  if (actualSize === size) {
    const hash = createHash('sha256');
    await hashFileInto(path, hash, signal);
    const actual = hash.digest('hex');
    if (actual === sha256) return true;
    log.warn({ path, expected: sha256, actual }, 'cached artifact does not verify; deleting it');
  } else {
    log.warn({ path, size, actualSize }, 'cached artifact has the wrong size; deleting it');
  }
  await unlinkIfPresent(path);
  return false;
}

/** Hashes what an earlier download left, so it can be continued; drops it when it cannot be. */
export async function hashPartial(path: string, size: number, signal?: AbortSignal): Promise<Progress> {
  const hash = createHash('sha256');
  let have: number;
  try {
    have = (await stat(path)).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { hash, offset: 0 };
    throw err;
  }
  if (have > size) {
    await unlinkIfPresent(path);
    return { hash, offset: 0 };
  }
  await hashFileInto(path, hash, signal);
  return { hash, offset: have };
}

/**
 * After an attempt the partial file must hold exactly the bytes hashed. If a failed write left it
 * shorter or longer, the hash is rebuilt from the disk.
 */
export async function reconcilePartial(path: string, progress: Progress, size: number, signal?: AbortSignal): Promise<Progress> {
  let have = -1;
  try {
    have = (await stat(path)).size;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
    have = 0;
  }
  if (have === progress.offset) return progress;
  return hashPartial(path, size, signal);
}

async function hashFileInto(path: string, hash: Hash, signal?: AbortSignal): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: HASH_READ_CHUNK })) {
    signal?.throwIfAborted();
    hash.update(chunk as Buffer);
  }
}

export async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
