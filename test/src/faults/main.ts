// `npm run faults -- --soak [--minutes N] [--agents N] [--heartbeat 250ms] [--sample 30s] [--deploy-every 60s]`:
// a small real fleet for N minutes, sampling the controller's RSS, and whether it levels off.
import { parseArgs } from 'node:util';
import { parseDuration } from '@flotilla/shared';
import { formatSoak, soak } from './soak.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      soak: { type: 'boolean', default: false },
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
    process.stderr.write('faults: say which: --soak\n');
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

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`faults: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
