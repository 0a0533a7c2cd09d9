// `npm run faults -- --nats-kill [--loops N]`: nats-server killed with SIGKILL during rollouts, N
//   tries (default 20) cycling through the kill points; a table of tries, survived and failed.
// `npm run faults -- --soak [--minutes N] [--agents N] [--heartbeat 250ms] [--sample 30s] [--deploy-every 60s]`:
//   a small real fleet for N minutes, sampling the controller's RSS, and whether it levels off.
import { parseArgs } from 'node:util';
import { parseDuration } from '@flotilla/shared';
import { NATS_KILL_POINTS, natsKillTry, startFaultFleet, type NatsKillTry } from './nats-kill.js';
import { formatSoak, soak } from './soak.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      soak: { type: 'boolean', default: false },
      'nats-kill': { type: 'boolean', default: false },
      loops: { type: 'string', default: '20' },
      minutes: { type: 'string', default: '10' },
      agents: { type: 'string', default: '3' },
      heartbeat: { type: 'string', default: '250ms' },
      sample: { type: 'string', default: '30s' },
      'deploy-every': { type: 'string', default: '60s' },
      'heap-snapshots': { type: 'boolean', default: false },
    },
  });
  const started = Date.now();
  const log = (message: string) => process.stderr.write(`[faults ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
  if (values['nats-kill']) {
    const loops = Number(values.loops);
    if (!Number.isInteger(loops) || loops < 1) {
      process.stderr.write(`faults: --loops wants a whole number of at least 1, not "${values.loops}"\n`);
      return 2;
    }
    return natsKillLoop(loops, log);
  }
  if (!values.soak) {
    process.stderr.write('faults: say which: --nats-kill or --soak\n');
    return 2;
  }
  const minutes = Number(values.minutes);
  const agents = Number(values.agents);
  if (!(minutes > 0) || !Number.isInteger(agents) || agents < 1) {
    process.stderr.write('faults: --minutes wants a positive number and --agents a whole number of at least 1\n');
    return 2;
  }
  const opts = {
    minutes,
    agents,
    heartbeat: values.heartbeat,
    sampleEveryMs: parseDuration(values.sample, '--sample'),
    deployEveryMs: parseDuration(values['deploy-every'], '--deploy-every'),
    // SIGUSR2 to the controller writes a heap snapshot into its working directory.
    ...(values['heap-snapshots'] ? { controllerEnv: { NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2' } } : {}),
    log,
  };
  const result = await soak(opts);
  process.stdout.write(formatSoak(result, opts));
  return result.verdict?.levelsOff === false ? 1 : 0;
}

async function natsKillLoop(loops: number, log: (message: string) => void): Promise<number> {
  const fleet = await startFaultFleet({ log });
  const tries: NatsKillTry[] = [];
  try {
    for (let i = 0; i < loops; i++) {
      const point = NATS_KILL_POINTS[i % NATS_KILL_POINTS.length] as (typeof NATS_KILL_POINTS)[number];
      const t = await natsKillTry(fleet, point);
      tries.push(t);
      log(`try ${i + 1}/${loops} (${point}, ${t.rolloutId}): ${t.problems.length === 0 ? 'survived' : t.problems.join('; ')} in ${(t.ms / 1000).toFixed(1)}s`);
    }
  } finally {
    await fleet.stop();
  }
  const rows = NATS_KILL_POINTS.map((point) => {
    const mine = tries.filter((t) => t.point === point);
    const failed = mine.filter((t) => t.problems.length > 0).length;
    return `nats-server kill -9, ${point}`.padEnd(64) + `${String(mine.length).padStart(5)} ${String(mine.length - failed).padStart(8)} ${String(failed).padStart(6)}`;
  });
  process.stdout.write(`${'FAULT'.padEnd(64)}TRIES SURVIVED FAILED\n${rows.join('\n')}\n`);
  for (const t of tries.filter((x) => x.problems.length > 0)) process.stdout.write(`  ${t.rolloutId} (${t.point}): ${t.problems.join('; ')}\n`);
  return tries.some((t) => t.problems.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`faults: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
