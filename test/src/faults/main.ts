// `npm run faults [-- --loops N]`: every fault kind N times (default 20) against real local fleets,
//   then a table of tries, survived and failed, with the stranded hosts, duplicate processes, lost
//   acknowledgements and lost events counted. Name kinds to run only those: --agent-kill,
//   --controller-kill, --nats-kill, --partition, --controller-disk.
// `npm run faults -- --soak [--minutes N] [--agents N] [--heartbeat 250ms] [--sample 30s] [--deploy-every 60s]`:
//   a small real fleet for N minutes, sampling the controller's RSS, and whether it levels off.
import { parseArgs } from 'node:util';
import { parseDuration } from '@flotilla/shared';
import { AGENT_KILL_POINTS, agentKillTry } from './agent-kill.js';
import { CAN_MOUNT, DISK_SKIP_REASON, controllerDiskTry, startDiskFleet } from './controller-disk.js';
import { CONTROLLER_KILL_POINTS, controllerKillTry, startControllerKillFleet } from './controller-kill.js';
import { formatFailures, formatFaultTable, type FaultOutcome } from './fault-table.js';
import { NATS_KILL_POINTS, natsKillTry, startFaultFleet } from './nats-kill.js';
import { partitionTry, startPartitionFleet } from './partition.js';
import { formatSoak, soak } from './soak.js';

const KINDS = ['agent-kill', 'controller-kill', 'nats-kill', 'partition', 'controller-disk'] as const;
type Kind = (typeof KINDS)[number];
type Log = (message: string) => void;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      soak: { type: 'boolean', default: false },
      'agent-kill': { type: 'boolean', default: false },
      'controller-kill': { type: 'boolean', default: false },
      'nats-kill': { type: 'boolean', default: false },
      partition: { type: 'boolean', default: false },
      'controller-disk': { type: 'boolean', default: false },
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
  if (!values.soak) {
    const loops = Number(values.loops);
    if (!Number.isInteger(loops) || loops < 1) {
      process.stderr.write(`faults: --loops wants a whole number of at least 1, not "${values.loops}"\n`);
      return 2;
    }
    const named = KINDS.filter((k) => values[k]);
    return faultLoops(named.length > 0 ? named : [...KINDS], loops, log);
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

/** Runs `loops` tries of each kind, one fleet per kind, and prints the table; 1 when any try failed. */
async function faultLoops(kinds: readonly Kind[], loops: number, log: Log): Promise<number> {
  const outcomes: FaultOutcome[] = [];
  const record = (o: FaultOutcome, i: number, ms: number) => {
    outcomes.push(o);
    log(`${o.fault} ${i + 1}/${loops}: ${o.problems.length === 0 ? 'survived' : o.problems.join('; ')} in ${(ms / 1000).toFixed(1)}s`);
  };
  const none = { stranded: 0, duplicates: 0, lostAcks: 0, lostEvents: 0 };
  for (const kind of kinds) {
    if (kind === 'agent-kill') {
      const fleet = await startFaultFleet({ log });
      try {
        for (let i = 0; i < loops; i++) {
          const point = AGENT_KILL_POINTS[i % AGENT_KILL_POINTS.length]!;
          const t = await agentKillTry(fleet, point, `5.0.${i}`);
          if (t.killedEarly) log(`agent SIGKILL after ${point} ${i + 1}/${loops}: the agent died while starting, before the deploy`);
          record({ ...none, ...t, fault: `agent SIGKILL after ${point}` }, i, t.ms);
        }
      } finally {
        await fleet.stop();
      }
    } else if (kind === 'controller-kill') {
      const fleet = await startControllerKillFleet({ log });
      try {
        for (let i = 0; i < loops; i++) {
          const t = await controllerKillTry(fleet, CONTROLLER_KILL_POINTS[i % CONTROLLER_KILL_POINTS.length]!);
          record({ ...none, ...t, fault: `controller SIGKILL ${t.point}` }, i, t.ms);
        }
      } finally {
        await fleet.stop();
      }
    } else if (kind === 'nats-kill') {
      const fleet = await startFaultFleet({ log });
      try {
        for (let i = 0; i < loops; i++) {
          const t = await natsKillTry(fleet, NATS_KILL_POINTS[i % NATS_KILL_POINTS.length]!);
          record({ ...none, ...t, fault: `nats-server kill -9 ${t.point}` }, i, t.ms);
        }
      } finally {
        await fleet.stop();
      }
    } else if (kind === 'partition') {
      const pf = await startPartitionFleet(log);
      try {
        for (let i = 0; i < loops; i++) {
          const t = await partitionTry(pf);
          record({ ...none, ...t, fault: 'host partitioned from NATS mid-rollout' }, i, t.ms);
        }
      } finally {
        await pf.stop();
      }
    } else if (!CAN_MOUNT) {
      log(`controller full disk skipped: ${DISK_SKIP_REASON}`);
    } else {
      const df = await startDiskFleet();
      try {
        for (let i = 0; i < loops; i++) {
          const t = await controllerDiskTry(df, `6.0.${i}`);
          record({ ...none, ...t, fault: 'controller data dir full at upload' }, i, t.ms);
        }
      } finally {
        await df.stop();
      }
    }
  }
  process.stdout.write(formatFaultTable(outcomes) + formatFailures(outcomes));
  if (kinds.includes('controller-disk') && !CAN_MOUNT) process.stdout.write(`controller full disk: skipped, ${DISK_SKIP_REASON}\n`);
  return outcomes.some((o) => o.problems.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`faults: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
