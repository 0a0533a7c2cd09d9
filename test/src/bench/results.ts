import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/** The figures of the benchmark, in table order. */
export const FIGURE_GROUPS = ['hosts', 'failure-detection', 'rollout', 'revert', 'fetch', 'unpack', 'footprint'] as const;
export type FigureGroup = (typeof FIGURE_GROUPS)[number];

/** One row of the table. */
export interface FigureRow {
  /** Stable id, for the JSON and for tests: `hosts-25000`, `fetch-10`, ... */
  readonly id: string;
  readonly group: FigureGroup;
  /** What was measured, for people. */
  readonly figure: string;
  readonly value: string;
  /** The same thing measured for the baseline in the same run, or '—' when the figure has none. */
  readonly baseline: string;
  /** value ÷ baseline, oriented so that ≥ 1 means Flotilla is at least as good; '—' without a baseline. */
  readonly ratio: string;
  readonly target: string;
  /** Whether the target is met; null when it could not be measured. */
  readonly met: boolean | null;
  /** The raw measurements behind the row. */
  readonly data: Readonly<Record<string, number | string | boolean | null>>;
  /** What the reader should know about this row (a missing baseline, a reduced size). */
  readonly notes?: readonly string[];
}

export interface BenchReport {
  readonly startedAt: string;
  readonly seconds: number;
  readonly quick: boolean;
  /** TLS on as shipped (false: --plain). */
  readonly secure: boolean;
  readonly machine: { cpus: number; cpuModel: string; memBytes: number; node: string; platform: string };
  readonly rows: readonly FigureRow[];
  /** Figures that could not run, with the reason. */
  readonly errors: readonly { group: FigureGroup; error: string }[];
}

export function machine(): BenchReport['machine'] {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memBytes: totalmem(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

const COLUMNS = ['figure', 'value', 'baseline', 'ratio', 'target', 'met?'] as const;

function metText(met: boolean | null): string {
  return met === null ? 'n/a' : met ? 'yes' : 'NO';
}

/** The table as plain text (for a terminal). */
export function formatTable(report: BenchReport): string {
  const rows = report.rows.map((r) => [r.figure, r.value, r.baseline, r.ratio, r.target, metText(r.met)]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  const out = [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const notes = report.rows.flatMap((r) => (r.notes ?? []).map((n) => `  ${r.id}: ${n}`));
  if (notes.length > 0) out.push('', 'notes:', ...notes);
  if (report.errors.length > 0) out.push('', 'figures that did not run:', ...report.errors.map((e) => `  ${e.group}: ${e.error}`));
  return out.join('\n');
}

/** The table as Markdown (for docs/performance.md). */
export function formatMarkdown(report: BenchReport): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${COLUMNS.join(' | ')} |`,
    `| ${COLUMNS.map(() => '---').join(' | ')} |`,
    ...report.rows.map((r) => `| ${[r.figure, r.value, r.baseline, r.ratio, r.target, metText(r.met)].map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Writes `bench-<time>.json` and `latest.json` into `dir`; returns the first path. */
export async function writeReport(dir: string, report: BenchReport): Promise<string> {
  await mkdir(dir, { recursive: true });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const path = join(dir, `bench-${report.quick ? 'quick-' : ''}${stamp}.json`);
  await writeFile(path, text);
  await writeFile(join(dir, report.quick ? 'latest-quick.json' : 'latest.json'), text);
  return path;
}

// Number formatting shared by the figures.
export const fmt = {
  ms: (ms: number) => (Number.isNaN(ms) ? 'n/a' : ms < 10 ? `${ms.toFixed(1)} ms` : ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`),
  s: (ms: number) => (Number.isNaN(ms) ? 'n/a' : `${(ms / 1000).toFixed(2)} s`),
  pct: (share: number) => `${(share * 100).toFixed(share < 0.1 ? 2 : 1)}%`,
  mb: (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`,
  mbps: (bytesPerSecond: number) => `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`,
  ratio: (r: number) => (Number.isFinite(r) ? r.toFixed(2) : 'n/a'),
  int: (n: number) => n.toLocaleString('en-US'),
};
