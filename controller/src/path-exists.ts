import { stat } from 'node:fs/promises';

/** Whether anything (file, directory, link target) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
