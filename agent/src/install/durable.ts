import { open } from 'node:fs/promises';

/**
 * Flushes a directory's entries (a rename or a new link in it) to disk. Without it a crash can
 * bring back the old name even though the rename returned.
 */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The errno code of a Node system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
