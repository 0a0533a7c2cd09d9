import { ValidationError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Parses a duration such as `500ms`, `30s`, `5m`, `1.5h` or `2d` (several parts may follow each
 * other: `1m30s`) into milliseconds. A bare number is taken as milliseconds.
 */
export function parseDuration(input: string | number, what = 'duration'): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) {
      throw new ValidationError(`${what}: ${input} is not a non-negative number of milliseconds`);
    }
    return Math.round(input);
  }
  const text = input.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const parts = text.match(/\d+(?:\.\d+)?(?:ms|s|m|h|d)/g);
  if (!parts || parts.join('') !== text) {
    throw new ValidationError(
      `${what}: "${input}" is not a duration (use forms like 500ms, 30s, 5m, 1h, 1m30s)`,
    );
  }
  let total = 0;
  for (const part of parts) {
    const m = DURATION.exec(part);
    if (!m) throw new ValidationError(`${what}: "${input}" is not a duration`);
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return Math.round(total);
}

/** Formats milliseconds compactly for people: 950ms, 12.3s, 4m05s, 2h10m. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1000) return `${sign}${Math.round(a)}ms`;
  if (a < 60_000) return `${sign}${(a / 1000).toFixed(a < 10_000 ? 2 : 1)}s`;
  if (a < 3_600_000) {
    const m = Math.floor(a / 60_000);
    const s = Math.floor((a % 60_000) / 1000);
    return `${sign}${m}m${String(s).padStart(2, '0')}s`;
  }
  const h = Math.floor(a / 3_600_000);
  const m = Math.floor((a % 3_600_000) / 60_000);
  return `${sign}${h}h${String(m).padStart(2, '0')}m`;
}
