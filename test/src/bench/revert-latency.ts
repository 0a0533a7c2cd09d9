// How fast an alert puts a fleet back on its stable version, end to end, on this machine:
//   node test/dist/bench/revert-latency.js [--runs 10] [--heartbeat 1s]
//
// A real nats-server, controller and three agents running the demo app (as the demo does). Each
// run rolls demo 2.0.0 out over the stable 1.0.0 to every host and waits for its success, then
// POSTs one Alertmanager notification (version 4) for the app inside the watch window, and
// measures from just before the request until every host reports 1.0.0 active, running and
// healthy, as the controller sees it (GetStatus polled every 5 ms; heartbeats carry the change at
// once, not at the next interval). Also shown: when the webhook answered, and when the last host
// stamped its report (the agents' own clock, the same machine's).
import { parseArgs } from 'node:util';
import type { GetStatusResponse__Output } from '@flotilla/proto';
import { fireAlertmanager } from '../alerts.js';
import { unaryCall } from '../controller-process.js';
import { waitUntil } from '../deadline.js';
import { Fleet } from '../fleet.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '10' }, heartbeat: { type: 'string', default: '1s' }, help: { type: 'boolean', default: false } },
});
if (values.help) {
  console.log('usage: node test/dist/bench/revert-latency.js [--runs 10] [--heartbeat 1s]');
  process.exit(0);
}
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs "${values.runs}" must be a whole number above 0`);
const TOKEN = 'bench-alerts-token-0123456789abcdef';
const STABLE = '1.0.0';
const NEXT = '2.0.0';

interface Run {
  answeredMs: number;
  healthyMs: number;
  stampedMs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const worst = (xs: number[]) => Math.max(...xs);

let fleet: Fleet | undefined;

async function status(f: Fleet): Promise<GetStatusResponse__Output> {
  return unaryCall<{ app: string }, GetStatusResponse__Output>(f.clients.control, 'GetStatus', { app: 'demo' });
}

/** Every host's demo status on `version`, running and healthy: the latest report stamp, or null. */
function allOn(s: GetStatusResponse__Output, version: string, hosts: number): number | null {
  let latest = 0;
  let on = 0;
  for (const h of s.hosts) {
    const a = h.apps.find((x) => x.app === 'demo');
    if (a?.active_version === version && a.process_state === 'running' && a.health === 'healthy') {
      on++;
      latest = Math.max(latest, Number(a.updated_at_ms));
    }
  }
  return on === hosts ? latest : null;
}

async function main(): Promise<void> {
  fleet = await Fleet.startDeployed({
    agents: 3,
    heartbeatInterval: values.heartbeat,
    logLevel: 'warn',
    controllerEnv: { FLOTILLA_ALERTS_TOKEN: TOKEN },
    stable: STABLE,
  });
  const f = fleet;
  await f.push(NEXT);

  const results: Run[] = [];
  for (let i = 1; i <= runs; i++) {
    // From the second run on, the alarm of the run before has marked 2.0.0 bad.
    await f.run(['rollout', 'start', `demo@${NEXT}`, '--steps', '100%', '--min-healthy-time', '1s', '--healthy-deadline', '30s', '--force', '--watch']);
    await waitUntil(`every host healthy on ${NEXT}`, async () => allOn(await status(f), NEXT, 3) !== null, { timeoutMs: 30_000, intervalMs: 50 });

    const sentAt = Date.now();
    const reply = fireAlertmanager(f.controller.http, TOKEN, 'demo').then((r) => ({ r, at: Date.now() }));
    const healthy = await waitUntil(
      `every host back on ${STABLE}, running and healthy`,
      async () => {
        const stamp = allOn(await status(f), STABLE, 3);
        return stamp === null ? undefined : { seenAt: Date.now(), stamp };
      },
      { timeoutMs: 30_000, intervalMs: 5 },
    );
    const answered = await reply;
    const action = answered.r.body.apps?.[0]?.action;
    if (answered.r.status !== 202 || action !== 'reverted') throw new Error(`run ${i}: the webhook answered ${answered.r.status} ${JSON.stringify(answered.r.body)}`);
    const run = { answeredMs: answered.at - sentAt, healthyMs: healthy.seenAt - sentAt, stampedMs: healthy.stamp - sentAt };
    results.push(run);
    console.log(
      `run ${String(i).padStart(2)}: webhook answered in ${run.answeredMs} ms; every host on ${STABLE}, running and healthy: ` +
        `${run.healthyMs} ms (seen by the controller), ${run.stampedMs} ms (last agent's report)`,
    );
  }

  const line = (what: string, xs: number[]) => `  ${what.padEnd(42)} median ${Math.round(median(xs))} ms, worst ${worst(xs)} ms`;
  console.log(`\nrevert of 3 real agents (demo app) from the Alertmanager webhook POST, ${runs} runs, heartbeat interval ${values.heartbeat}:`);
  console.log(line('webhook answered (202, reverted)', results.map((r) => r.answeredMs)));
  console.log(line('every host healthy on stable (controller)', results.map((r) => r.healthyMs)));
  console.log(line('every host healthy on stable (agents)', results.map((r) => r.stampedMs)));
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`revert-latency failed: ${(err as Error).message}`);
  if (fleet) console.error(fleet.diagnostics());
} finally {
  await fleet?.stop();
}
process.exit(failed ? 1 : 0);
