import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import {
  IntegrityError,
  ValidationError,
  errorMessage,
  parseDescriptor,
  type Descriptor,
  type SignedDescriptor,
} from '@flotilla/shared';
import { UPLOAD_CHUNK_BYTES } from './client.js';

export interface FileDigest {
  readonly sha256: string;
  readonly size: number;
}

/** Checks that `path` names a non-empty regular file; the error names the file and the problem. */
export async function assertArtifactFile(path: string): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new ValidationError(`cannot read artifact ${path}: ${errorMessage(err)}`, { cause: err });
  }
  if (!info.isFile()) throw new ValidationError(`artifact ${path} is not a regular file`);
  if (info.size === 0) throw new ValidationError(`artifact ${path} is empty`);
  return info.size;
}

/** SHA-256 and size of a file, read as a stream so that large artifacts use little memory. */
export async function hashFile(path: string): Promise<FileDigest> {
  await assertArtifactFile(path);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: UPLOAD_CHUNK_BYTES })) {
      const buf = chunk as Buffer;
      hash.update(buf);
      size += buf.length;
    }
  } catch (err) {
    throw new ValidationError(`cannot read artifact ${path}: ${errorMessage(err)}`, { cause: err });
  }
  return { sha256: hash.digest('hex'), size };
}

/** The file's bytes in upload-sized chunks. */
export async function* readChunks(path: string): AsyncGenerator<Buffer> {
  for await (const chunk of createReadStream(path, { highWaterMark: UPLOAD_CHUNK_BYTES })) {
    yield chunk as Buffer;
  }
}

/** Reads a signed descriptor file written by `flotilla artifact sign`, checking its shape. */
export async function readSignedDescriptor(path: string): Promise<{ signed: SignedDescriptor; descriptor: Descriptor }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ValidationError(`cannot read signed descriptor ${path}: ${errorMessage(err)}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError(`signed descriptor ${path} is not valid JSON`);
  }
  const v = value as Partial<Record<'payload' | 'keyId' | 'signature', unknown>> | null;
  if (
    v === null ||
    typeof v !== 'object' ||
    typeof v.payload !== 'string' ||
    typeof v.keyId !== 'string' ||
    typeof v.signature !== 'string'
  ) {
    throw new ValidationError(
      `signed descriptor ${path} must be a JSON object with string fields payload, keyId and signature (as written by flotilla artifact sign)`,
    );
  }
  let descriptor: Descriptor;
  try {
    descriptor = parseDescriptor(v.payload);
  } catch (err) {
    throw new ValidationError(`signed descriptor ${path}: ${errorMessage(err)}`, { cause: err });
  }
  if (!v.keyId) throw new ValidationError(`signed descriptor ${path} names no key id`);
  if (Buffer.from(v.signature, 'base64').length !== 64) {
    throw new ValidationError(`signed descriptor ${path} has a malformed signature (not 64 bytes of base64)`);
  }
  return { signed: { payload: v.payload, keyId: v.keyId, signature: v.signature }, descriptor };
}

/**
 * Checks, before any byte is sent, that a pre-signed descriptor is for this app, this version and
 * exactly this file, so a CI job that mixed up its files fails here with a message that says how.
 */
export function checkDescriptorMatches(
  descriptor: Descriptor,
  expected: { app: string; version: string; file: string; digest: FileDigest },
  source: string,
): void {
  if (descriptor.app !== expected.app) {
    throw new ValidationError(
      `signed descriptor ${source} is for app "${descriptor.app}", not "${expected.app}" (--app)`,
    );
  }
  if (descriptor.version !== expected.version) {
    throw new ValidationError(
      `signed descriptor ${source} is for ${descriptor.app} version "${descriptor.version}", not "${expected.version}" (--version)`,
    );
  }
  if (descriptor.size !== expected.digest.size) {
    throw new IntegrityError(
      `signed descriptor ${source} is for a file of ${descriptor.size} bytes, but ${expected.file} has ${expected.digest.size} bytes (wrong file?)`,
    );
  }
  if (descriptor.sha256 !== expected.digest.sha256) {
    throw new IntegrityError(
      `signed descriptor ${source} is for SHA-256 ${descriptor.sha256}, but ${expected.file} has SHA-256 ${expected.digest.sha256} (wrong file, or changed after signing)`,
    );
  }
}
