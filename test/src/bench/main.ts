// `npm run bench`: every figure of the performance issue, with its baseline, in one run.
//   node test/dist/bench/main.js [--quick] [--only hosts,rollout,...] [--out DIR] [--profile DIR] [--markdown] [--plain]
//     [--rollout-hosts N] (the fleet of the rollout and revert figures; default 1000, quick 100)
//     [--rollout-scale-hosts N] (their second, larger fleet; default 25000, quick and 0: none)
//     [--assignment-hosts N] (hosts of the assignment-write and re-signing figures; default 25000, quick 300)
//     [--hosts-sizes 10000,25000] (the fleet sizes of the hosts figure) [--burn N] (N CPU burners during it)
//     [--heartbeats json] (the hosts figure's hosts send JSON heartbeats only, as agents before ticks: a baseline)
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchContext } from './context.js';
import { artifactFigures } from './figures/artifacts.js';
import { clusterFigures } from './figures/cluster.js';
import { hostsFigures } from './figures/hosts.js';
import { assignmentFigures } from './figures/assignments.js';
import { rolloutFigures } from './figures/rollouts.js';
import { trafficFigures } from './figures/traffic.js';
import { FIGURE_GROUPS, formatMarkdown, formatTable, machine, writeReport, type BenchReport, type FigureGroup, type FigureRow } from './results.js';

const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results/', import.meta.url));

/** The sizes of a full run and of a quick one. */
const SIZES = {
  full: {
    hosts: { sizes: [1000, 5000, 10_000, 25_000], windowMs: 10_000, settleMs: 3000, addPerSecond: 5000 },
    rollout: { hosts: 1000, revertRuns: 10, revertBudgetMs: 120_000 },
    rolloutScale: { hosts: 25_000, revertRuns: 3, revertBudgetMs: 60_000 },
    assignments: { hosts: 25_000 },
    artifacts: { bytes: 1024 ** 3, idleMs: 60_000, parallel: 10 },
    traffic: { rate: 400, bake: '3s', hostAlertRuns: 5, simHosts: 1000, simRuns: 10, phaseMs: 5000, phases: 6, reloadEveryMs: 500 },
    cluster: { rounds: 3, hosts: 10_000, windowMs: 10_000, settleMs: 3000, addPerSecond: 5000, fetchBytes: 128 * 1024 ** 2 },
  },
  quick: {
    hosts: { sizes: [100, 300], windowMs: 3000, settleMs: 1000, addPerSecond: 2000 },
    rollout: { hosts: 100, revertRuns: 2, revertBudgetMs: 30_000 },
    rolloutScale: { hosts: 0, revertRuns: 1, revertBudgetMs: 0 },
    assignments: { hosts: 300 },
    artifacts: { bytes: 32 * 1024 ** 2, idleMs: 5000, parallel: 3 },
    traffic: { rate: 300, bake: '1s', hostAlertRuns: 1, simHosts: 100, simRuns: 2, phaseMs: 1500, phases: 2, reloadEveryMs: 500 },
    cluster: { rounds: 1, hosts: 100, windowMs: 2000, settleMs: 500, addPerSecond: 2000, fetchBytes: 8 * 1024 ** 2 },
  },
} as const;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'string' },
      markdown: { type: 'boolean', default: false },
      // Every figure runs TLS on, as shipped (mutual TLS on NATS with one user per role, gRPC and
      // HTTPS on TLS); --plain measures the same without, to show what security costs.
      plain: { type: 'boolean', default: false },
      'rollout-hosts': { type: 'string' },
      'rollout-scale-hosts': { type: 'string' },
      'assignment-hosts': { type: 'string' },
      'hosts-sizes': { type: 'string' },
      burn: { type: 'string' },
      heartbeats: { type: 'string' },
    },
  });
  const only = values.only ? new Set(values.only.split(',').map((s) => s.trim())) : undefined;
  for (const name of only ?? []) {
    if (!(FIGURE_GROUPS as readonly string[]).includes(name)) {
      process.stderr.write(`bench: unknown figure "${name}" (figures: ${FIGURE_GROUPS.join(', ')})\n`);
      return 2;
    }
  }
  const wanted = (g: FigureGroup) => !only || only.has(g);
  const preset = values.quick ? SIZES.quick : SIZES.full;
  const rolloutHosts = values['rollout-hosts'] ? Number(values['rollout-hosts']) : preset.rollout.hosts;
  if (!Number.isInteger(rolloutHosts) || rolloutHosts < 10) {
    process.stderr.write(`bench: --rollout-hosts wants a whole number of at least 10, not "${values['rollout-hosts']}"\n`);
    return 2;
  }
  const scaleHosts = values['rollout-scale-hosts'] ? Number(values['rollout-scale-hosts']) : preset.rolloutScale.hosts;
  if (!Number.isInteger(scaleHosts) || (scaleHosts !== 0 && scaleHosts < 10)) {
    process.stderr.write(`bench: --rollout-scale-hosts wants 0 or a whole number of at least 10, not "${values['rollout-scale-hosts']}"\n`);
    return 2;
  }
  const resignHosts = values['assignment-hosts'] ? Number(values['assignment-hosts']) : preset.assignments.hosts;
  if (!Number.isInteger(resignHosts) || resignHosts < 10) {
    process.stderr.write(`bench: --assignment-hosts wants a whole number of at least 10, not "${values['assignment-hosts']}"\n`);
    return 2;
  }
  const hostsSizes = values['hosts-sizes'] ? values['hosts-sizes'].split(',').map(Number) : preset.hosts.sizes;
  const burn = values.burn ? Number(values.burn) : 0;
  const heartbeats = (values.heartbeats ?? 'ticks') as 'ticks' | 'json';
  if (hostsSizes.some((n) => !Number.isInteger(n) || n < 2) || !Number.isInteger(burn) || burn < 0 || (heartbeats !== 'ticks' && heartbeats !== 'json')) {
    process.stderr.write(`bench: --hosts-sizes wants whole numbers of at least 2, --burn a whole number, --heartbeats ticks or json\n`);
    return 2;
  }
  const sizes = {
    ...preset,
    assignments: { hosts: resignHosts },
    rollout: { ...preset.rollout, hosts: rolloutHosts },
    rolloutScale: { ...preset.rolloutScale, hosts: scaleHosts },
    hosts: { ...preset.hosts, sizes: hostsSizes, burn, heartbeats },
  };
  const profileDir = values.profile ? resolve(values.profile) : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });

  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-'));
  const started = Date.now();
  const ctx: BenchContext = {
    dir,
    quick: values.quick,
    secure: !values.plain,
    profileDir,
    log: (message) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`),
  };
  const rows: FigureRow[] = [];
  const errors: { group: FigureGroup; error: string }[] = [];
  // Each group adds its rows as it measures them: a group that fails part-way keeps what it measured.
  const run = async (groups: FigureGroup[], body: (out: FigureRow[]) => Promise<void>) => {
    if (!groups.some(wanted)) return;
    const out: FigureRow[] = [];
    try {
      await body(out);
    } catch (err) {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      ctx.log(`${groups.join('+')} failed: ${error}`);
      for (const group of groups.filter(wanted)) {
        if (!out.some((r) => r.group === group)) errors.push({ group, error: error.split('\n')[0] as string });
      }
    } finally {
      rows.push(...out.filter((r) => wanted(r.group)));
    }
  };
  try {
    await run(['hosts', 'failure-detection'], (out) => hostsFigures(ctx, sizes.hosts, out));
    await run(['rollout', 'revert'], (out) => rolloutFigures(ctx, { ...sizes.rollout, wanted }, out));
    await run(['assignments'], (out) => assignmentFigures(ctx, sizes.assignments, out));
    if (sizes.rolloutScale.hosts > 0) await run(['rollout', 'revert'], (out) => rolloutFigures(ctx, { ...sizes.rolloutScale, sizedIds: true, wanted }, out));
    await run(['fetch', 'unpack', 'footprint'], (out) => artifactFigures(ctx, { ...sizes.artifacts, wanted }, out));
    await run(['traffic'], (out) => trafficFigures(ctx, sizes.traffic, out));
    await run(['cluster'], (out) => clusterFigures(ctx, sizes.cluster, out));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const order = (r: FigureRow) => FIGURE_GROUPS.indexOf(r.group);
  rows.sort((a, b) => order(a) - order(b));
  const report: BenchReport = {
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    quick: values.quick,
    secure: !values.plain,
    machine: machine(),
    rows,
    errors,
  };
  const path = await writeReport(values.out ? resolve(values.out) : DEFAULT_OUT, report);
  const m = report.machine;
  process.stdout.write(
    `\nFlotilla benchmark${values.quick ? ' (quick: small sizes, figures not comparable with the targets)' : ''}: ` +
      `${m.cpus} × ${m.cpuModel}, ${(m.memBytes / 1024 ** 3).toFixed(0)} GiB, Node ${m.node}, ${report.seconds.toFixed(0)} s, ` +
        `${report.secure ? 'TLS on (as shipped)' : 'plaintext (--plain)'}\n\n`,
  );
  process.stdout.write(`${values.markdown ? formatMarkdown(report) : formatTable(report)}\n\nresults: ${path}\n`);
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
