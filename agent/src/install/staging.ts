import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from './durable.js';

/** Name prefix of unpacks in progress inside a releases directory; never activated. */
export const STAGING_PREFIX = '.staging-';

/** Removes unpacks that a crash or a kill left behind. Returns the names removed. */
export async function cleanStaging(releasesDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(releasesDir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const stale = names.filter((n) => n.startsWith(STAGING_PREFIX));
  for (const name of stale) {
    await rm(join(releasesDir, name), { recursive: true, force: true, maxRetries: 3 });
  }
  return stale;
}
