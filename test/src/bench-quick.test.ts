// The benchmark harness still works: `--quick` runs every figure at a small size and reports each
// one. Whether a figure meets its target is the benchmark's business, never this test's.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from './bench/results.js';
import { deadlineMs } from './deadline.js';
import { runToExit, type RunResult } from './spawn.js';

const BENCH_MAIN = fileURLToPath(new URL('../dist/bench/main.js', import.meta.url));

let dir: string;
let run: RunResult;
let report: BenchReport;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-quick-'));
  // The traffic figures run real hosts behind nginx and a simulated fleet (about a minute); the
  // cluster figures start two small clusters and kill a leader twice (one to two minutes).
  run = await runToExit(process.execPath, [BENCH_MAIN, '--quick', '--out', dir], { timeoutMs: deadlineMs(420_000) });
  report = JSON.parse(await readFile(join(dir, 'latest-quick.json'), 'utf8')) as BenchReport;
}, deadlineMs(430_000));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run bench -- --quick', () => {
  it('runs every figure without an error', () => {
    expect(report.errors, run.stderr.slice(-4000)).toEqual([]);
    expect(run.code, run.stderr.slice(-4000)).toBe(0);
    expect(report.quick).toBe(true);
  });

  it('reports every figure of the issue, each with a value, a target and a verdict', () => {
    const ids = report.rows.map((r) => r.id);
    for (const prefix of ['hosts-', 'failure-detection-']) expect(ids.filter((id) => id.startsWith(prefix)).length).toBeGreaterThanOrEqual(2);
    for (const id of ['rollout', 'revert', 'assign-steps', 'resign', 'fetch-1', 'unpack', 'footprint-idle', 'footprint-deploy']) expect(ids).toContain(id);
    for (const id of ['traffic-rollout', 'traffic-revert', 'traffic-alert-host', 'traffic-alert-fleet', 'traffic-reload-latency', 'traffic-reload']) expect(ids).toContain(id);
    expect(ids.some((id) => /^fetch-[2-9]\d*$/.test(id))).toBe(true);
    for (const id of ['cluster-failover', 'cluster-alert-revert', 'cluster-fetch-cold', 'cluster-fetch-warm']) expect(ids).toContain(id);
    expect(ids.some((id) => /^cluster-hosts-\d+$/.test(id))).toBe(true);
    for (const row of report.rows) {
      expect(row.figure).not.toBe('');
      expect(row.value).not.toBe('');
      expect(row.target).not.toBe('');
      expect([true, false, null]).toContain(row.met);
    }
  });

  it('measures the baselines in the same run, or says why not', () => {
    for (const id of ['fetch-1', 'unpack']) {
      const row = report.rows.find((r) => r.id === id);
      expect(row?.baseline === 'n/a' ? row.notes?.join(' ') : row?.baseline).toMatch(/nginx|tar/);
    }
    expect(report.rows.find((r) => r.id === 'traffic-reload-latency')?.baseline).toMatch(/without reloads/);
  });

  it('prints one table with the columns of the issue', () => {
    expect(run.stdout).toMatch(/figure\s+value\s+baseline\s+ratio\s+target\s+met\?/);
    for (const row of report.rows) expect(run.stdout).toContain(row.figure);
  });
});
