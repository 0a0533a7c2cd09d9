// The longer fault loop, outside `npm test`: `node test/dist/cluster-fault-loop.js [--loops N]`
// (after `npx tsc -b`). Each round SIGKILLs the leader mid-rollout, then SIGKILLs it again as an
// alert is accepted by the other controller; every round must end with the rollout finished (or
// reverted), each step started once, one new assignment per host, and the alert acted on once.
import { parseArgs } from 'node:util';
import { alertAsLeaderDies, killLeaderMidRollout, startClusterFleet } from './cluster-scenarios.js';

const { values } = parseArgs({ options: { loops: { type: 'string', default: '10' } } });
const loops = Number(values.loops);
if (!Number.isInteger(loops) || loops < 1 || loops > 1000) {
  console.error('--loops must be a whole number from 1 to 1000');
  process.exit(2);
}

const plane = await startClusterFleet({ stable: '1.0.0' });
const takeovers: number[] = [];
const reverts: number[] = [];
let stable = '1.0.0';
let kills = 0;
try {
  for (let round = 1; round <= loops; round++) {
    const good = `${round + 1}.0.0`;
    const { takeoverMs } = await killLeaderMidRollout(plane.fleet, good);
    takeovers.push(takeoverMs);
    stable = good;
    kills += 1;
    const { revertedMs, action } = await alertAsLeaderDies(plane.fleet, `${round + 1}.1.0`, stable);
    reverts.push(revertedMs);
    kills += 1;
    console.log(`round ${round}/${loops}: takeover ${takeoverMs} ms; alert (${action}) to fleet reverted ${revertedMs} ms`);
  }
  const summary = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return `median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms`;
  };
  console.log(`${kills} leader kills, all recovered. Takeover: ${summary(takeovers)}. Alert to revert: ${summary(reverts)}.`);
} catch (err) {
  console.error(`failed after ${kills} leader kills: ${String(err)}`);
  process.exitCode = 1;
} finally {
  await plane.fleet.stop();
}
