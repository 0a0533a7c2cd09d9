import { ConfigError } from './errors.js';

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Reads a size such as `1048576`, `512MiB`, `2GB` or `1g` into bytes. */
export function parseByteSize(input: string | number, what = 'size'): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input <= 0) throw new ConfigError(`${what}: ${input} is not a positive number of bytes`);
    return input;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(input);
  const unit = m ? BYTE_UNITS[(m[2] as string).toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new ConfigError(`${what}: "${input}" is not a size (use bytes or forms like 512MiB, 2GB)`);
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new ConfigError(`${what}: "${input}" is not a positive size`);
  return bytes;
}

const SHOWN_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** A byte count for a message: `512 MiB`, `1.5 GiB`, `900 B`. */
export function formatByteSize(bytes: number): string {
  let value = bytes;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < SHOWN_UNITS.length - 1) {
    value /= 1024;
    i++;
  }
  const shown = i === 0 || Number.isInteger(value) ? String(value) : value.toFixed(1);
  return `${shown} ${SHOWN_UNITS[i]}`;
}
