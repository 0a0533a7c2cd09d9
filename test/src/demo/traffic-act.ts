// The demo's traffic act: a real nginx in front of the three hosts, a load generator sending
// requests through it the whole act and checking every answer, a good release moved 10% → 50% →
// 100% by weight, and a bad one put back by weight with no request lost. Every claim it prints
// is checked; one that does not hold fails the demo.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive as alive } from '../agent-process.js';
import { waitUntil } from '../deadline.js';
import { buildDemoAppRelease, type Fleet } from '../fleet.js';
import { LoadGenerator, type LoadCounts } from '../load.js';
import { answersByVersion } from '../slots-nginx.js';
import type { TrafficFront } from '../traffic-front.js';

export interface TrafficActDeps {
  readonly fleet: Fleet;
  readonly front: TrafficFront;
  readonly releaseKey: string;
  /** Runs `flotilla ARGS` where the audience sees it; throws when its exit is not the expected one. */
  flotilla(args: string[], opts?: { expectFail?: boolean }): Promise<void>;
  step(text: string): void;
}

/** The share a weight step may miss by: nginx's weighted round robin is exact, the sample is not. */
const SHARE_TOLERANCE = 0.05;
const RATE = 300;

interface SavedApp {
  activeVersion: string | null;
  process: { pid: number } | null;
  traffic?: { activeSlot: string; weight: number; beside: { version: string } | null };
}


const percent = (n: number, of: number): string => `${((100 * n) / Math.max(1, of)).toFixed(1)}%`;

export async function trafficAct(d: TrafficActDeps): Promise<void> {
  const { fleet, front } = d;
  const saved = async (i: number): Promise<SavedApp | undefined> =>
    JSON.parse(await readFile(join(fleet.agents[i]!.dataDir, 'state.json'), 'utf8')).apps.demo as SavedApp | undefined;
  const everyHost = async (check: (s: SavedApp) => boolean): Promise<boolean> => {
    for (let i = 0; i < fleet.agents.length; i++) {
      const s = await saved(i);
      if (s === undefined || !check(s)) return false;
    }
    return true;
  };
  let load: LoadGenerator | undefined;
  /** The next `n` answers, once nginx's workers from before the last reload have finished. */
  const answers = async (n: number): Promise<LoadCounts> => {
    await front.nginx.settled();
    return (load as LoadGenerator).next(n);
  };
  const push = async (version: string, mode: 'good' | 'unhealthy-after' = 'good', env: Record<string, string> = {}): Promise<void> => {
    // The app declares two slots; each host's agent config puts them on ports of its own.
    const file = await buildDemoAppRelease({
      version,
      mode,
      env,
      outDir: join(fleet.dir, 'releases'),
      manifest: { traffic: { slots: [{ port: 8081 }, { port: 8082 }] } },
    });
    await d.flotilla(['artifact', 'push', file, '--app', 'demo', '--version', version, '--key', d.releaseKey]);
  };

  d.step('Traffic behind nginx: demo 6.0.0 declares two slots, so a new release can run beside the old one');
  console.log(`   nginx on ${front.url()} spreads requests over the three hosts; each host's agent writes its own upstream:`);
  for (const h of front.hosts) console.log(`   ${h.hostId}  upstream ${h.upstream}, slots 127.0.0.1:${h.slotPorts[0]} and 127.0.0.1:${h.slotPorts[1]}`);
  await push('6.0.0');
  await d.flotilla(['deploy', 'demo@6.0.0', '--wait-timeout', '60s']);
  await waitUntil('every host serving 6.0.0 in slot a', () => everyHost((s) => s.activeVersion === '6.0.0' && s.process !== null), {
    timeoutMs: 30_000,
    intervalMs: 100,
  });

  load = LoadGenerator.start(front.url(), { ratePerSecond: RATE });
  let total: LoadCounts | undefined;
  try {
    const before = await answers(300);
    if (before.failed > 0 || Object.keys(answersByVersion(before)).join() !== '6.0.0') {
      throw new Error(`nginx did not serve 6.0.0 alone before the rollout: ${JSON.stringify(answersByVersion(before))}, ${before.failed} failed`);
    }
    console.log(`   load: ${RATE} requests/s through nginx from now to the end of the act, every answer checked`);

    d.step('A good 7.0.0 on every host beside 6.0.0, its share of the requests moved 10% → 50% → 100%');
    await push('7.0.0');
    const pids6 = await Promise.all(fleet.agents.map(async (_, i) => (await saved(i))?.process?.pid));
    const watching = d.flotilla([
      'rollout', 'start', 'demo@7.0.0', '--canary', '3', '--traffic', '10%,50%,100%', '--min-healthy-time', '1s', '--canary-bake', '4s', '--watch',
    ]);
    // The CLI's watch and the measurement run side by side; a failed rollout ends both.
    let watchEnded = false;
    const watched = watching.finally(() => (watchEnded = true));
    const measure = async (): Promise<void> => {
      for (const weight of [10, 50]) {
        const at = (s: SavedApp): boolean => s.activeVersion === '7.0.0' && s.traffic?.weight === weight;
        await waitUntil(`every host at ${weight}%`, async () => watchEnded || (await everyHost(at)), { timeoutMs: 60_000, intervalMs: 100 });
        if (watchEnded) return;
        const w = await answers(600);
        // Weights only grow in a good rollout: still at this weight now means at it all along.
        if (!(await everyHost(at))) throw new Error(`the rollout left ${weight}% before its share was measured; the canary bake is too short`);
        const share = (answersByVersion(w)['7.0.0'] ?? 0) / w.total;
        console.log(`   at ${weight}%: 7.0.0 answered ${percent(answersByVersion(w)['7.0.0'] ?? 0, w.total)} of ${w.total} requests, ${w.failed} failed`);
        if (Math.abs(share - weight / 100) > SHARE_TOLERANCE || w.failed > 0) {
          throw new Error(`at ${weight}% the new version answered ${(share * 100).toFixed(1)}% of the requests (${w.failed} failed)`);
        }
      }
    };
    await Promise.all([watched, measure()]);
    await waitUntil('6.0.0 stopped on every host', () => pids6.every((pid) => pid !== undefined && !alive(pid)), { timeoutMs: 20_000, intervalMs: 100 });
    const after = await answers(300);
    console.log(`   at 100%: 7.0.0 answered ${percent(answersByVersion(after)['7.0.0'] ?? 0, after.total)} of ${after.total} requests; 6.0.0 retired on every host`);
    if (Object.keys(answersByVersion(after)).join() !== '7.0.0' || after.failed > 0) throw new Error(`after 100%: ${JSON.stringify(answersByVersion(after))}`);

    d.step('A bad 8.0.0 (healthy for 4 s, then its health check fails): 10% of the requests, then put back by weight, no restart');
    await push('8.0.0', 'unhealthy-after', { DEMO_HEALTHY_FOR: '4' });
    const pids7 = await Promise.all(fleet.agents.map(async (_, i) => (await saved(i))?.process?.pid));
    const badBefore = load.counts();
    await d.flotilla(
      ['rollout', 'start', 'demo@8.0.0', '--canary', '3', '--traffic', '10%,50%,100%', '--min-healthy-time', '1s', '--canary-bake', '1m', '--watch'],
      { expectFail: true },
    );
    await waitUntil('all of the traffic back on 7.0.0', () => everyHost((s) => s.activeVersion === '7.0.0' && s.traffic?.weight === 100 && s.traffic.beside === null), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const pidsAfter = await Promise.all(fleet.agents.map(async (_, i) => (await saved(i))?.process?.pid));
    if (pidsAfter.some((pid, i) => pid !== pids7[i] || pid === undefined || !alive(pid))) {
      throw new Error(`7.0.0 was restarted: pids ${pids7.join(',')} before, ${pidsAfter.join(',')} after`);
    }
    const clean = await answers(300);
    const bad = answersByVersion(LoadGenerator.between(badBefore, load.counts()))['8.0.0'] ?? 0;
    console.log(`   8.0.0 answered ${bad} requests before its health gate tripped; all of the traffic is back on 7.0.0, whose processes kept their PIDs (${pids7.join(', ')})`);
    if (Object.keys(answersByVersion(clean)).join() !== '7.0.0' || clean.failed > 0) throw new Error(`after the revert: ${JSON.stringify(answersByVersion(clean))}`);
    if (bad === 0) throw new Error('8.0.0 never took a share of the requests');
  } finally {
    // The counts are shown however the act ended: they are what it is about.
    total = await load.stop();
    console.log(`\n   requests through nginx during the act: ${total.total} in all, ${total.failed} failed`);
    for (const [version, n] of Object.entries(answersByVersion(total)).sort()) console.log(`     answered by demo ${version}: ${n} (${percent(n, total.total)})`);
    for (const f of load.failures.slice(0, 5)) console.log(`   failed: ${f.what}`);
  }
  if (total.failed > 0) throw new Error(`${total.failed} requests failed through nginx during the act`);
}
