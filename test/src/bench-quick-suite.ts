// The benchmark harness still works: `--quick` runs the figures at a small size and reports each
// one. Whether a figure meets its target is the benchmark's business, never these tests'. The
// figure groups are split over a few test files so that the suite's workers run them side by
// side (traffic and cluster alone take a minute or two each).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from './bench/results.js';
import { deadlineMs } from './deadline.js';
import { runToExit, type RunResult } from './spawn.js';

const BENCH_MAIN = fileURLToPath(new URL('../dist/bench/main.js', import.meta.url));

export interface QuickBenchCase {
  /** The figure groups this file runs (`--only`). */
  readonly groups: readonly string[];
  /** Row ids the report must hold, and patterns some row id must match. */
  readonly ids: readonly string[];
  readonly idPatterns?: readonly RegExp[];
  /** Before the deadline scale. */
  readonly timeoutMs: number;
  /** More checks on the report. */
  readonly more?: (report: BenchReport) => void;
}

/** Runs `npm run bench -- --quick --only …` once for the file and checks what it reports. */
export function describeQuickBench(c: QuickBenchCase): void {
  let dir: string;
  let run: RunResult;
  let report: BenchReport;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-quick-'));
    run = await runToExit(process.execPath, [BENCH_MAIN, '--quick', '--only', c.groups.join(','), '--out', dir], { timeoutMs: deadlineMs(c.timeoutMs) });
    report = JSON.parse(await readFile(join(dir, 'latest-quick.json'), 'utf8')) as BenchReport;
  }, deadlineMs(c.timeoutMs + 10_000));

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe(`npm run bench -- --quick --only ${c.groups.join(',')}`, () => {
    it('runs every figure without an error', () => {
      expect(report.errors, run.stderr.slice(-4000)).toEqual([]);
      expect(run.code, run.stderr.slice(-4000)).toBe(0);
      expect(report.quick).toBe(true);
    });

    it('reports every figure of the issue, each with a value, a target and a verdict', () => {
      const ids = report.rows.map((r) => r.id);
      for (const id of c.ids) expect(ids).toContain(id);
      for (const pattern of c.idPatterns ?? []) expect(ids.some((id) => pattern.test(id)), String(pattern)).toBe(true);
      for (const row of report.rows) {
        expect(row.figure).not.toBe('');
        expect(row.value).not.toBe('');
        expect(row.target).not.toBe('');
        expect([true, false, null]).toContain(row.met);
      }
      c.more?.(report);
    });

    it('prints one table with the columns of the issue', () => {
      expect(run.stdout).toMatch(/figure\s+value\s+baseline\s+ratio\s+target\s+met\?/);
      for (const row of report.rows) expect(run.stdout).toContain(row.figure);
    });
  });
}
