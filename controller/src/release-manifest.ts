import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Parser, type ReadEntry } from 'tar';
import {
  MANIFEST_FILE,
  ManifestError,
  ValidationError,
  errorMessage,
  parseManifest,
  type Manifest,
} from '@flotilla/shared';

/** A manifest larger than this is not a manifest. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

const REGULAR_FILE = new Set(['File', 'OldFile', 'ContiguousFile']);

/**
 * Reads `flotilla.json` from the root of a gzip tarball on disk and validates it for `expect`
 * (the app and version the descriptor names), so a release pipeline learns about a bad manifest
 * when it pushes, not when the first host tries to run it. The whole archive is read: when a
 * tarball holds the file twice, unpacking keeps the last one, so that is the one checked.
 */
export async function readReleaseManifest(file: string, expect: { app: string; version: string }): Promise<Manifest> {
  await assertGzip(file);
  let manifestText: string | undefined;
  let problem: ManifestError | undefined;

  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (entry.path.replace(/^(\.\/)+/, '') !== MANIFEST_FILE) {
        entry.resume();
        return;
      }
      if (!REGULAR_FILE.has(entry.type)) {
        problem = new ManifestError(`${MANIFEST_FILE} at the tarball root must be a regular file, not a ${entry.type}`);
        entry.resume();
        return;
      }
      if (entry.size > MAX_MANIFEST_BYTES) {
        problem = new ManifestError(`${MANIFEST_FILE} is ${entry.size} bytes; a manifest may be at most ${MAX_MANIFEST_BYTES}`);
        entry.resume();
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => {
        manifestText = Buffer.concat(chunks).toString('utf8');
        problem = undefined;
      });
    },
  });

  const source = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      source.destroy();
      reject(new ValidationError(`artifact is not a readable gzip tarball: ${errorMessage(err)}`, { cause: err }));
    };
    parser.on('error', fail);
    source.on('error', fail);
    parser.on('close', () => resolve());
    source.pipe(parser as unknown as NodeJS.WritableStream);
  });

  if (problem) throw problem;
  if (manifestText === undefined) {
    throw new ManifestError(`artifact has no ${MANIFEST_FILE} at the root of its tarball; every release needs one`);
  }
  return parseManifest(manifestText, expect);
}

async function assertGzip(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    if (bytesRead < 2 || head[0] !== 0x1f || head[1] !== 0x8b) {
      throw new ValidationError('artifact is not gzip-compressed: an artifact is a .tar.gz');
    }
  } finally {
    await fh.close();
  }
}
