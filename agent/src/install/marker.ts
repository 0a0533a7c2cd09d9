import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MARKER_FILE, type ReleaseMarker } from './types.js';
import { errnoCode } from './durable.js';

/** Writes the marker into a release directory (normally its staging directory) and flushes it. */
export async function writeReleaseMarker(dir: string, marker: ReleaseMarker): Promise<void> {
  const body = `${JSON.stringify({
    app: marker.app,
    version: marker.version,
    sha256: marker.sha256,
    unpackedAtMs: marker.unpackedAtMs,
  })}\n`;
  // 'wx': the archive may not ship a marker of its own, and a second writer is a bug.
  const handle = await open(join(dir, MARKER_FILE), 'wx', 0o644);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Reads a release directory's marker; null when it is missing or not a marker at all. */
export async function readReleaseMarker(dir: string): Promise<ReleaseMarker | null> {
  let text: string;
  try {
    text = await readFile(join(dir, MARKER_FILE), 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
  return parseReleaseMarker(text);
}

export function parseReleaseMarker(text: string): ReleaseMarker | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (
    typeof v.app !== 'string' ||
    typeof v.version !== 'string' ||
    typeof v.sha256 !== 'string' ||
    typeof v.unpackedAtMs !== 'number' ||
    !Number.isFinite(v.unpackedAtMs)
  ) {
    return null;
  }
  return Object.freeze({ app: v.app, version: v.version, sha256: v.sha256, unpackedAtMs: v.unpackedAtMs });
}
