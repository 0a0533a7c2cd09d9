import { statSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/**
 * Refuses a private key that group or others may read or write: whoever can read it can speak
 * as its owner. Names the file and its mode so the fix (`chmod 600`) is obvious.
 */
export function assertPrivateKeyFileMode(path: string, setting: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      `${setting}: private key ${path} has mode ${mode.toString(8).padStart(4, '0')}, readable by group or others; ` +
        `run chmod 600 ${path}`,
    );
  }
}
