// The longer fault loop, outside `npm test`: `node test/dist/cluster-fault-loop.js [--loops N]`
// (after `npx tsc -b`). Each round SIGKILLs the leader mid-rollout, then SIGKILLs it again as an
// alert is accepted by the other controller; every round must end with the rollout finished (or
// reverted), each step started once, one new assignment per host, and the alert acted on once.
// The benchmark's cluster figures run the same rounds (cluster-scenarios.ts).
import { parseArgs } from 'node:util';
import { killLeaderRounds, medianAndMax, startClusterFleet, type LeaderKills } from './cluster-scenarios.js';

const { values } = parseArgs({ options: { loops: { type: 'string', default: '10' } } });
const loops = Number(values.loops);
if (!Number.isInteger(loops) || loops < 1 || loops > 1000) {
  console.error('--loops must be a whole number from 1 to 1000');
  process.exit(2);
}

const plane = await startClusterFleet({ stable: '1.0.0' });
const kills: LeaderKills = { takeoverMs: [], firstActionMs: [], revertedMs: [] };
const killCount = () => kills.takeoverMs.length + kills.revertedMs.length;
try {
  await killLeaderRounds(plane.fleet, loops, kills, (round, takeover, revert) => {
    console.log(
      `round ${round}/${loops}: takeover ${takeover.takeoverMs} ms (first action ${takeover.firstActionMs} ms); ` +
        `alert (${revert.action}) to fleet reverted ${revert.revertedMs} ms`,
    );
  });
  const summary = (xs: number[]) => {
    const { median, max } = medianAndMax(xs);
    return `median ${median} ms, max ${max} ms`;
  };
  console.log(
    `${killCount()} leader kills, all recovered. Takeover: ${summary(kills.takeoverMs)} (first action: ${summary(kills.firstActionMs)}). ` +
      `Alert to revert: ${summary(kills.revertedMs)}.`,
  );
} catch (err) {
  console.error(`failed after ${killCount()} leader kills: ${String(err)}`);
  process.exitCode = 1;
} finally {
  await plane.fleet.stop();
}
