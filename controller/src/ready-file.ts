import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';

/** What the ready file says: the process and where a local client reaches it. */
export interface ReadyInfo {
  pid: number;
  /** `127.0.0.1:PORT` (or the specific address the listener is bound to). */
  grpc: string;
  http: string;
}

/** Writes the ready file atomically (temp file + rename), so a watcher never reads half of it. */
export async function writeReadyFile(path: string, info: ReadyInfo): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, `${JSON.stringify(info)}\n`, { mode: 0o644 });
  await rename(temp, path);
}

export async function removeReadyFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
