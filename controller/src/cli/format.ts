import Table from 'cli-table3';
import type { CliContext } from './context.js';

/** Whether to colour output: only on a terminal, and never when NO_COLOR is set (no-color.org). */
export function useColour(ctx: Pick<CliContext, 'isTTY' | 'env'>): boolean {
  return ctx.isTTY && !ctx.env['NO_COLOR'];
}

export type Tone = 'good' | 'bad' | 'warn' | 'dim' | 'bold';

const SGR: Record<Tone, [string, string]> = {
  good: ['\u001b[32m', '\u001b[39m'],
  bad: ['\u001b[31m', '\u001b[39m'],
  warn: ['\u001b[33m', '\u001b[39m'],
  dim: ['\u001b[2m', '\u001b[22m'],
  bold: ['\u001b[1m', '\u001b[22m'],
};

export function paint(text: string, tone: Tone | undefined, colour: boolean): string {
  if (!colour || tone === undefined || text === '') return text;
  const [on, off] = SGR[tone];
  return `${on}${text}${off}`;
}

/**
 * A borderless table (columns two spaces apart, no rules), the shape `kubectl get` made familiar:
 * easy to read mid-incident and easy to grep or cut.
 */
export function renderTable(head: readonly string[], rows: readonly (readonly string[])[], colour: boolean): string {
  const table = new Table({
    head: head.map((h) => paint(h, 'bold', colour)),
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '',
      right: '', 'right-mid': '', middle: '  ',
    },
    // cli-table3 colours headers itself unless told not to; colour is decided above.
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  for (const row of rows) table.push([...row]);
  return `${table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')}\n`;
}

/** A proto uint64 (a decimal string, or a number) as a number; '' and absent are 0. */
export function toNumber(value: string | number | null | undefined): number {
  if (value === undefined || value === null || value === '') return 0;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : 0;
}

/** How long ago a moment was, as an operator reads it: `3s ago`, `5m ago`, `2h ago`, `4d ago`. */
export function formatAgo(thenMs: number, nowMs: number): string {
  if (!thenMs) return 'never';
  const d = nowMs - thenMs;
  // A clock a little ahead on the controller must not print "-1s ago".
  if (d < 1000) return 'just now';
  if (d < 60_000) return `${Math.floor(d / 1000)}s ago`;
  if (d < 3_600_000) return `${Math.floor(d / 60_000)}m ago`;
  if (d < 86_400_000) return `${Math.floor(d / 3_600_000)}h ago`;
  return `${Math.floor(d / 86_400_000)}d ago`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** The binary unit a byte count reads best in: its index into BYTE_UNITS and divisor. */
function byteUnit(bytes: number): { unit: string; divisor: number } {
  let i = 0;
  let divisor = 1;
  while (bytes >= divisor * 1024 && i < BYTE_UNITS.length - 1) {
    divisor *= 1024;
    i++;
  }
  return { unit: BYTE_UNITS[i] as string, divisor };
}

function scaled(bytes: number, divisor: number): string {
  if (divisor === 1) return String(Math.round(bytes));
  const v = bytes / divisor;
  return v.toFixed(v < 10 ? 1 : 0);
}

/** Bytes in binary units: `512 B`, `1.5 KiB`, `7.8 GiB`. */
export function formatBytes(bytes: number): string {
  const n = Number.isFinite(bytes) && bytes > 0 ? bytes : 0;
  const { unit, divisor } = byteUnit(n);
  return `${scaled(n, divisor)} ${unit}`;
}

/** `1.2/7.8 GiB`: used and total in the total's unit, so that the column stays narrow. */
export function formatUsage(used: number, total: number): string {
  if (!(total > 0)) return formatBytes(used);
  const { unit, divisor } = byteUnit(total);
  return `${scaled(Math.max(0, used), divisor)}/${scaled(total, divisor)} ${unit}`;
}

/** `k=v,k=v` sorted by key, or `-`. */
export function formatLabels(labels: Readonly<Record<string, string>> | null | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '-';
}

/** A short form of a SHA-256 for tables; `--json` always carries the full digest. */
export function shortDigest(sha256: string): string {
  return sha256 ? sha256.slice(0, 12) : '-';
}

/** Lists up to `max` names, then how many more. */
export function formatList(names: readonly string[], max = 8): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** Pretty JSON for `--json`: two-space indent, one trailing newline. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** `1 host` / `3 hosts`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
