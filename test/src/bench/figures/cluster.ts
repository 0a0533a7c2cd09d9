// The control plane on a three-node NATS cluster (docs/operations.md, "Running a cluster"): how
// fast a follower replaces a dead leader, an alert's revert across the leader's death, what a
// second controller costs at 10,000 hosts, and downloads through a follower's cache.
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ListHostsResponse__Output } from '@flotilla/proto';
import { makeDescriptor, signDescriptor } from '@flotilla/shared';
import { killLeaderRounds, leaderOf, medianAndMax, startClusterFleet, type LeaderKills } from '../../cluster-scenarios.js';
import { controllerClients, httpGetText, unaryCall, type ControllerClients, type ControllerProcess } from '../../controller-process.js';
import { delay, waitUntil } from '../../deadline.js';
import { Fleet, runCli } from '../../fleet.js';
import type { TestKeyPair } from '../../keys.js';
import { startNatsCluster, type NatsCluster } from '../../nats-server.js';
import { SimFleetProcess, type SimHostSpec } from '../../sim/index.js';
import { firstLine, hostCounts, metricValue, type BenchContext } from '../context.js';
import { ControlPlane } from '../plane.js';
import { CpuWindow, RssSampler, percentile } from '../proc.js';
import { fmt, type FigureRow } from '../results.js';
import { buildRelease, parallelFetch, type Release } from './artifacts.js';
import { HOSTS_TARGET, collectDelay, hostId } from './hosts.js';

const execFileAsync = promisify(execFile);

/** Issue 14's targets, with the lease settings at their defaults (cluster.lease 4s, renewInterval 1s). */
export const CLUSTER_TARGET = { firstActionMs: 5000, revertMs: 7000, warmFetchRatio: 0.9, coldFetchRatio: 0.5 };

const INTERVAL_MS = 1000;
const MAX_PROBES = 200;
const HOSTS_EACH = '<50% core, <1 GB, p99 <50 ms each';
/** The replicated buckets of a cluster; the lease settings stay at their defaults. */
const REPLICATED = 'nats:\n  kvReplicas: 3\n';

export interface ClusterOptions {
  /** Leader-kill rounds: each SIGKILLs the leader mid-rollout, then again right after an alert's 202. */
  rounds: number;
  /** Simulated hosts at 1 Hz heard by one, then two controllers. */
  hosts: number;
  windowMs: number;
  settleMs: number;
  addPerSecond: number;
  /** Size of the incompressible payload of the release fetched through a follower. */
  fetchBytes: number;
}

/**
 * Three parts, each on a three-node nats-server cluster on loopback with real controller
 * processes; a part that fails leaves its rows saying why and the others still run:
 *
 * 1. failover and alert revert: the fault scenarios of the cluster tests (startClusterFleet: two
 *    controllers, three agents), `rounds` times: the leader SIGKILLed while a rollout's step is
 *    under watch (to the new leader's "leading" line, its first actions done), then SIGKILLed as
 *    an alert is accepted by the follower (202 to every host serving the stable version again);
 * 2. fetch, with nothing else running: a release pushed through the cluster's one controller
 *    (into the object store) is fetched from a second one with the agent's download code (the
 *    fetch worker of the `fetch` figure), first with that follower's cache cold (filled from the
 *    object store while the fetch waits), then warm; against one controller on its own
 *    nats-server serving the same bytes from its disk;
 * 3. hosts: a simulated fleet heard first by one controller (the baseline), then by two, each
 *    hearing every heartbeat: each one's CPU and RSS, and the heartbeat delay read through each
 *    one's ListHosts, measured as the `hosts` figure measures it.
 */
export async function clusterFigures(ctx: BenchContext, opts: ClusterOptions, out: FigureRow[]): Promise<void> {
  const rows: FigureRow[] = [];
  try {
    await failoverFigures(ctx, opts.rounds, rows);
    await hostsAndFetchFigures(ctx, opts, rows);
  } finally {
    // Said on every row rather than hidden: these figures are not yet "TLS on, as shipped".
    const plain = 'measured without TLS or NATS users: the three-node cluster helper and the fetch worker have no TLS yet';
    out.push(...rows.map((r) => (ctx.secure ? { ...r, notes: [...(r.notes ?? []), plain] } : r)));
  }
}

async function failoverFigures(ctx: BenchContext, rounds: number, out: FigureRow[]): Promise<void> {
  const kills: LeaderKills = { takeoverMs: [], firstActionMs: [], revertedMs: [] };
  let error: string | undefined;
  try {
    ctx.log('cluster: three NATS nodes, two controllers, three agents');
    const { fleet } = await startClusterFleet({ stable: '1.0.0' });
    try {
      await killLeaderRounds(fleet, rounds, kills, (round, takeover, revert) =>
        ctx.log(
          `cluster: round ${round}/${rounds}: first action ${fmt.ms(takeover.firstActionMs)} after SIGKILL ` +
            `(healthz ${fmt.ms(takeover.takeoverMs)}); alert to fleet reverted ${fmt.ms(revert.revertedMs)}`,
        ),
      );
    } finally {
      await fleet.stop();
    }
  } catch (err) {
    ctx.log(`cluster: leader kills failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    error = `stopped after ${kills.takeoverMs.length + kills.revertedMs.length} of ${2 * rounds} kills: ${firstLine(err)}`;
  }
  const first = medianAndMax(kills.firstActionMs);
  const healthz = medianAndMax(kills.takeoverMs);
  const revert = medianAndMax(kills.revertedMs);
  const notes = error ? [error] : [];
  out.push({
    id: 'cluster-failover',
    group: 'cluster',
    figure: `leader failover: SIGKILL → new leader's first action (${kills.firstActionMs.length} kills)`,
    value: kills.firstActionMs.length > 0 ? `median ${fmt.s(first.median)}, max ${fmt.s(first.max)}` : 'not measured',
    baseline: '—',
    ratio: '—',
    target: '< 5 s (default lease 4 s, renewal 1 s)',
    met: !error && kills.firstActionMs.length > 0 && first.max < CLUSTER_TARGET.firstActionMs,
    data: {
      kills: kills.firstActionMs.length,
      firstActionMedianMs: first.median,
      firstActionMaxMs: first.max,
      healthzLeaderMedianMs: healthz.median,
      healthzLeaderMaxMs: healthz.max,
      firstActionMs: kills.firstActionMs.join(','),
    },
    ...(notes.length ? { notes } : {}),
  });
  out.push({
    id: 'cluster-alert-revert',
    group: 'cluster',
    figure: `alert → fleet reverted, leader SIGKILLed at the 202 (3 hosts, ${kills.revertedMs.length} kills)`,
    value: kills.revertedMs.length > 0 ? `median ${fmt.s(revert.median)}, max ${fmt.s(revert.max)}` : 'not measured',
    baseline: '—',
    ratio: '—',
    target: '< 7 s',
    met: !error && kills.revertedMs.length > 0 && revert.max < CLUSTER_TARGET.revertMs,
    data: { kills: kills.revertedMs.length, revertMedianMs: revert.median, revertMaxMs: revert.max, revertedMs: kills.revertedMs.join(',') },
    ...(notes.length ? { notes } : {}),
  });
  ctx.log(`cluster: failover ${out.at(-2)!.value}; alert to revert ${out.at(-1)!.value}`);
}

/** One controller's share of a measurement window. */
interface Heard {
  cpuShare: number;
  cpuSeconds: number;
  rssMaxBytes: number;
  p50Ms: number;
  p99Ms: number;
  samples: number;
  heartbeatsHandled: number;
  failedPolls: number;
}

const FETCH_ROWS = [
  ['cluster-fetch-cold', 'fetch + verify through a follower, cold cache', 'ratio ≥ 0.5'],
  ['cluster-fetch-warm', 'fetch + verify through a follower, warm cache', 'ratio ≥ 0.9'],
] as const;

/**
 * Fetches first, with nothing else running (the lone controller's, then the follower's), then the
 * simulated fleet: one controller, and a second one started for it.
 */
async function hostsAndFetchFigures(ctx: BenchContext, opts: ClusterOptions, out: FigureRow[]): Promise<void> {
  const base = join(ctx.dir, 'cluster-fetch');
  const hostsRow = [`cluster-hosts-${opts.hosts}`, `hosts: ${fmt.int(opts.hosts)} at 1 Hz, two controllers`, HOSTS_EACH] as const;
  let cluster: NatsCluster | undefined;
  let fleet: Fleet | undefined;
  try {
    ctx.log(`cluster: building a ${fmt.mb(opts.fetchBytes)} incompressible release`);
    const release = await buildRelease(base, '2.0.0', opts.fetchBytes);
    let singleMs = NaN;
    let singleError: unknown;
    try {
      singleMs = await singleControllerFetch(ctx, release, base);
    } catch (err) {
      singleError = err;
    }
    ctx.log('cluster: three NATS nodes, one controller');
    cluster = await startNatsCluster(3);
    fleet = await Fleet.start({ dir: join(ctx.dir, 'cluster'), nats: cluster.asServer(), agents: 0, controllerConfig: REPLICATED });
    cluster = undefined; // the fleet stops it now
    try {
      if (singleError) throw singleError;
      await fetchFigures(ctx, release, singleMs, fleet, base, out);
    } catch (err) {
      ctx.log(`cluster: fetch failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      for (const [id, figure, target] of FETCH_ROWS) if (!out.some((r) => r.id === id)) out.push(failedRow(id, figure, target, err));
    }
    // The fetches' follower goes: the hosts figure starts with one controller.
    for (const c of fleet.others.splice(0)) await c.stop();
    await hostsFigure(ctx, opts, fleet, out);
  } catch (err) {
    ctx.log(`cluster: hosts or fetch failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    for (const [id, figure, target] of [hostsRow, ...FETCH_ROWS]) if (!out.some((r) => r.id === id)) out.push(failedRow(id, figure, target, err));
  } finally {
    await fleet?.stop();
    await cluster?.stop();
  }
}

async function hostsFigure(ctx: BenchContext, opts: ClusterOptions, fleet: Fleet, out: FigureRow[]): Promise<void> {
  const probes = Math.min(MAX_PROBES, Math.floor(opts.hosts / 2));
  const specs: SimHostSpec[] = Array.from({ length: opts.hosts }, (_, i) => ({
    hostId: hostId(i),
    labels: { zone: 'abc'[i % 3] as string, env: 'bench', ...(i < probes ? { probe: 'yes' } : {}) },
    running: { web: '1.0.0' },
    probe: i < probes,
  }));
  // The simulator's connections go to the first node; the controllers' to any (they list all three).
  const firstNode = fleet.nats.url.split(',')[0] as string;
  const sim = await SimFleetProcess.start({ natsUrl: firstNode, heartbeatIntervalMs: INTERVAL_MS }, opts.hosts);
  const clients: ControllerClients[] = [];
  try {
    ctx.log(`cluster: ${fmt.int(opts.hosts)} simulated hosts`);
    await sim.call('addHosts', specs, { perSecond: opts.addPerSecond });
    const notes: string[] = [];
    const allUp = async (c: ControllerProcess) => {
      const timeoutMs = 30_000 + opts.hosts * 2;
      try {
        await waitUntil(`${opts.hosts} hosts up`, async () => (await hostCounts(c.http)).up >= opts.hosts, { timeoutMs, intervalMs: 250 });
      } catch {
        notes.push(`a controller had not registered all ${fmt.int(opts.hosts)} hosts within ${timeoutMs / 1000} s`);
      }
    };
    const one = fleet.controller;
    await allUp(one);
    await delay(opts.settleMs);
    clients.push(controllerClients(one.grpc));
    ctx.log(`cluster: one controller hears ${fmt.int(opts.hosts)} hosts for ${opts.windowMs / 1000} s`);
    const [[alone], aloneSent] = await measureHeard(fleet.controllers, clients, sim, opts.windowMs);

    ctx.log('cluster: a second controller');
    const secondStarted = Date.now();
    // A fresh data dir (controller-3): the fetches' follower had one of its own.
    const second = await fleet.startOtherController(2);
    fleet.others.push(second);
    clients.push(controllerClients(second.grpc));
    await allUp(second);
    const secondUpSeconds = (Date.now() - secondStarted) / 1000;
    await delay(opts.settleMs);
    ctx.log(`cluster: two controllers hear ${fmt.int(opts.hosts)} hosts for ${opts.windowMs / 1000} s`);
    const lostBefore = await leadershipsLost(fleet.controllers);
    const [both, sent, maxLatenessMs] = await measureHeard(fleet.controllers, clients, sim, opts.windowMs);
    const lostInWindow = (await leadershipsLost(fleet.controllers)) - lostBefore;
    if (lostInWindow !== 0) notes.push(`the lease was lost ${lostInWindow} times in the window (a renewal came too late)`);
    const [a, b] = both as [Heard, Heard];
    // Read from the gauge rather than /healthz: a busy controller answers its metrics as it can.
    const leading = await Promise.all(fleet.controllers.map((c) => metricValue(c.http, 'flotilla_controller_leader').catch(() => NaN)));
    const role = (c: ControllerProcess) => {
      const v = leading[fleet.controllers.indexOf(c)];
      return v === 1 ? 'leader' : v === 0 ? 'follower' : 'controller';
    };
    const meets = (h: Heard) => h.samples > 0 && h.cpuShare < HOSTS_TARGET.cpuShare && h.rssMaxBytes < HOSTS_TARGET.rssBytes && h.p99Ms < HOSTS_TARGET.p99Ms;
    for (const [h, c] of [[a, fleet.controllers[0]], [b, second]] as const) {
      if (!(h.heartbeatsHandled >= sent * 0.98)) notes.push(`the ${role(c!)} took in ${fmt.int(h.heartbeatsHandled)} of ${fmt.int(sent)} heartbeats sent`);
      if (h.failedPolls > 0) notes.push(`${h.failedPolls} ListHosts polls of the ${role(c!)} failed or timed out (5 s)`);
    }
    if (maxLatenessMs > 100) notes.push(`the simulator sent heartbeats up to ${Math.round(maxLatenessMs)} ms late`);
    const text = (h: Heard) => `CPU ${fmt.pct(h.cpuShare)}, RSS ${fmt.mb(h.rssMaxBytes)}, p99 ${fmt.ms(h.p99Ms)}`;
    const worst = Math.max(a.cpuShare, b.cpuShare);
    out.push({
      id: `cluster-hosts-${opts.hosts}`,
      group: 'cluster',
      figure: `hosts: ${fmt.int(opts.hosts)} at 1 Hz, two controllers`,
      value: `${role(fleet.controllers[0]!)}: ${text(a)}; ${role(second)}: ${text(b)}`,
      baseline: `one controller on the cluster: ${text(alone!)}`,
      ratio: fmt.ratio(alone!.cpuShare / worst),
      target: HOSTS_EACH,
      met: meets(a) && meets(b),
      data: {
        hosts: opts.hosts,
        windowSeconds: opts.windowMs / 1000,
        heartbeatsSent: sent,
        aloneHeartbeatsSent: aloneSent,
        ...prefixed('first', a),
        ...prefixed('second', b),
        ...prefixed('alone', alone!),
        firstRole: role(fleet.controllers[0]!),
        secondRole: role(second),
        secondUpSeconds,
        leadershipsLostInWindow: lostInWindow,
      },
      ...(notes.length ? { notes } : {}),
    });
    ctx.log(`cluster: ${out.at(-1)!.value} vs ${out.at(-1)!.baseline}`);
  } finally {
    for (const c of clients) c.close();
    await sim.close();
  }
}

/** The CPU, RSS and heartbeat delay of each controller over one window, read through each one's ListHosts. */
async function measureHeard(
  controllers: ControllerProcess[],
  clients: ControllerClients[],
  sim: SimFleetProcess,
  windowMs: number,
): Promise<[Heard[], sent: number, maxLatenessMs: number]> {
  // Counters read outside the CPU window (a busy controller may answer slowly), the simulator's
  // just inside them, so that each controller's count covers every heartbeat sent.
  const handledBefore = await Promise.all(controllers.map((c) => metricValue(c.http, 'flotilla_heartbeats_received_total').catch(() => NaN)));
  const simBefore = await sim.call('stats');
  const cpu = controllers.map((c) => new CpuWindow(c.pid));
  const rss = controllers.map((c) => new RssSampler(c.pid));
  const delays = controllers.map(() => [] as number[]);
  const sampled = controllers.map(() => new Set<string>());
  const failedPolls = controllers.map(() => 0);
  const windowStart = Date.now();
  for (let poll = 1; Date.now() - windowStart < windowMs; poll++) {
    await delay(windowStart + poll * 1000 - Date.now());
    await Promise.all(
      clients.map(async (client, i) => {
        try {
          const r = await unaryCall<object, ListHostsResponse__Output>(client.control, 'ListHosts', { selector: 'probe=yes' }, undefined, 5000);
          for (const h of r.hosts) collectDelay(h, sampled[i]!, delays[i]!);
        } catch {
          failedPolls[i]! += 1;
        }
      }),
    );
  }
  const cpuRead = cpu.map((w) => w.read());
  const rssRead = rss.map((s) => s.stop());
  const simAfter = await sim.call('stats');
  const handledAfter = await Promise.all(controllers.map((c) => metricValue(c.http, 'flotilla_heartbeats_received_total').catch(() => NaN)));
  const heard = controllers.map((_, i) => ({
    cpuShare: cpuRead[i]!.share,
    cpuSeconds: cpuRead[i]!.cpuSeconds,
    rssMaxBytes: rssRead[i]!.max,
    p50Ms: percentile(delays[i]!, 50),
    p99Ms: percentile(delays[i]!, 99),
    samples: delays[i]!.length,
    heartbeatsHandled: handledAfter[i]! - handledBefore[i]!,
    failedPolls: failedPolls[i]!,
  }));
  return [heard, simAfter.heartbeatsSent - simBefore.heartbeatsSent, simAfter.maxLatenessMs];
}

/** One controller on its own nats-server, serving from its disk: the download path of the `fetch` figure. */
async function singleControllerFetch(ctx: BenchContext, release: Release, base: string): Promise<number> {
  const plane = await ControlPlane.start({ dir: join(base, 'single') });
  try {
    await push(plane.grpc, release, plane.releaseKey.keyPath);
    const descriptor = await descriptorFile(join(base, 'single-descriptor.json'), release, plane.releaseKey.signer);
    ctx.log('cluster: fetch from one controller');
    return await fetchOnce(plane.grpc, descriptor, plane.releaseKey.pubPath, join(base, 'fetch-single'));
  } finally {
    await plane.stop();
  }
}

/**
 * The release pushed through the fleet's one controller (into the object store); a second
 * controller, started after with an empty data dir, serves it: cold, then warm.
 */
async function fetchFigures(ctx: BenchContext, release: Release, singleMs: number, fleet: Fleet, base: string, out: FigureRow[]): Promise<void> {
  ctx.log('cluster: pushing the release through the one controller (into the object store)');
  await push(fleet.controller.grpc, release, fleet.releaseKey.keyPath);
  const follower = await fleet.startOtherController(1);
  fleet.others.push(follower);
  if ((await leaderOf(fleet, fleet.controllers, 60_000)) === follower) throw new Error('the new controller leads: the other lost its lease');
  const descriptor = await descriptorFile(join(base, 'cluster-descriptor.json'), release, fleet.releaseKey.signer);
  ctx.log('cluster: fetch through the follower, its cache cold');
  const coldMs = await fetchOnce(follower.grpc, descriptor, fleet.releaseKey.pubPath, join(base, 'fetch-cold'));
  ctx.log('cluster: fetch through the follower, its cache warm');
  const warmMs = await fetchOnce(follower.grpc, descriptor, fleet.releaseKey.pubPath, join(base, 'fetch-warm'));

  const single = `one controller: ${fmt.mbps(release.size / (singleMs / 1000))} (${fmt.s(singleMs)})`;
  for (const [id, what, ms, target, bound] of [
    ['cluster-fetch-cold', 'cold cache (filled from the object store)', coldMs, 'ratio ≥ 0.5', CLUSTER_TARGET.coldFetchRatio],
    ['cluster-fetch-warm', 'warm cache', warmMs, 'ratio ≥ 0.9', CLUSTER_TARGET.warmFetchRatio],
  ] as const) {
    const ratio = singleMs / ms;
    out.push({
      id,
      group: 'cluster',
      figure: `fetch + verify ${fmt.mb(release.size)} through a follower: ${what}`,
      value: `${fmt.mbps(release.size / (ms / 1000))} (${fmt.s(ms)})`,
      baseline: single,
      ratio: fmt.ratio(ratio),
      target,
      met: ratio >= bound,
      data: { bytes: release.size, followerMs: ms, singleMs, ratio },
    });
    ctx.log(`cluster: ${out.at(-1)!.figure}: ${out.at(-1)!.value} vs ${single}`);
  }
}

async function push(controller: string, release: Release, keyPath: string): Promise<void> {
  const pushed = await runCli(['artifact', 'push', release.path, '--app', 'blob', '--version', release.version, '--key', keyPath], {
    controller,
    timeoutMs: 300_000,
  });
  if (pushed.code !== 0) throw new Error(`artifact push failed (${pushed.code}): ${pushed.stdout}${pushed.stderr}`);
}

async function descriptorFile(path: string, release: Release, signer: TestKeyPair['signer']): Promise<string> {
  await writeFile(path, JSON.stringify(signDescriptor(makeDescriptor({ app: 'blob', version: release.version, sha256: release.sha256, size: release.size }), signer)));
  return path;
}

/** One fetch worker, from a flushed disk, into a fresh cache dir (removed after). */
async function fetchOnce(controller: string, descriptor: string, trustedKey: string, cacheDir: string): Promise<number> {
  await execFileAsync('sync', []);
  try {
    // Plaintext: the cluster figures run without TLS (docs/performance.md says so).
    return (await parallelFetch(controller, descriptor, trustedKey, [cacheDir], {}, () => 0)).ms;
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

/** Times the lease was lost by any of the controllers, from their counters. */
async function leadershipsLost(controllers: ControllerProcess[]): Promise<number> {
  const counts = await Promise.all(
    controllers.map(async (c) => {
      const { body } = await httpGetText(c.http, '/metrics', 10_000);
      const m = /^flotilla_controller_leadership_changes_total\{change="lost"\} ([0-9.eE+-]+)$/m.exec(body);
      return m ? Number(m[1]) : 0;
    }),
  );
  return counts.reduce((x, y) => x + y, 0);
}

function prefixed(prefix: string, h: Heard): Record<string, number> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, v]));
}

function failedRow(id: string, figure: string, target: string, err: unknown): FigureRow {
  return { id, group: 'cluster', figure, value: 'not measured', baseline: '—', ratio: '—', target, met: false, data: {}, notes: [firstLine(err)] };
}
