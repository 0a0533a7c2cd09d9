// Hosts one controller carries, and how fast it notices one going silent, at growing fleet sizes.
import { join } from 'node:path';
import type { HostInfo__Output, ListHostsResponse__Output } from '@flotilla/proto';
import { SimFleetProcess } from '../../sim/index.js';
import type { SimHostSpec } from '../../sim/index.js';
import { unaryCall } from '../../controller-process.js';
import { delay, waitUntil } from '../../deadline.js';
import { firstLine, hostCounts, metricValue, type BenchContext } from '../context.js';
import type { LogLine } from '../logs.js';
import { CpuBurners } from '../burn.js';
import { ControlPlane } from '../plane.js';
import { CpuWindow, RssSampler, percentile } from '../proc.js';
import { fmt, type FigureGroup, type FigureRow } from '../results.js';

const INTERVAL_MS = 1000;
/** Hosts whose heartbeats echo their send time, read back through ListHosts. */
const MAX_PROBES = 200;

export const HOSTS_TARGET = { cpuShare: 0.5, rssBytes: 1e9, p99Ms: 50, p99UnderLoadMs: 100 };
export const DETECTION_TARGET_INTERVALS = 3;
const DETECTION_TARGET = `≤ ${DETECTION_TARGET_INTERVALS} intervals from receipt`;
/**
 * The controller marks a host down at its deadline; its timer and event loop add a millisecond or
 * two, and the times compared are whole milliseconds. The figure is shown, and judged, to a
 * hundredth of an interval.
 */
const DETECTION_SLACK_MS = INTERVAL_MS / 100;

export interface HostsOptions {
  sizes: readonly number[];
  /** Measurement window per size. */
  windowMs: number;
  /** Wait after every host is up before measuring (the fleet settles into its rhythm). */
  settleMs: number;
  /** Hosts brought in per second while the fleet grows. */
  addPerSecond: number;
  /** Busy-looping processes loading the machine throughout (`--burn N`); the p99 target is then 100 ms. @default 0 */
  burn?: number;
  /** 'json': the hosts play agents of the version before heartbeat ticks (`--heartbeats json`), a baseline. @default 'ticks' */
  heartbeats?: 'ticks' | 'json';
}

export function hostId(i: number): string {
  return `sim-${String(i).padStart(5, '0')}`;
}

/**
 * Grows one simulated fleet through the sizes against one controller. At each size, over one
 * window: the controller's CPU (ticks from /proc, as a share of one core), its RSS, and the delay
 * from a heartbeat's send to the controller's state showing it. The delay is read from the
 * controller's own view: probe hosts put each heartbeat's send time in `load.memUsedBytes`, and
 * ListHosts returns, from the same heartbeat, that load and `last_seen_ms` (the controller's
 * clock when it took the heartbeat in). Within the same window one host is silenced right after a
 * heartbeat, and the controller's "host down" log line says when it was marked down: measured from
 * that last heartbeat's send, and from its receipt (the victim's `last_seen_ms`), which is the
 * controller's own part and what the target is judged on; the difference is the delivery.
 */
export async function hostsFigures(ctx: BenchContext, opts: HostsOptions, out: FigureRow[]): Promise<void> {
  const largest = Math.max(...opts.sizes);
  const plane = await ControlPlane.start({
    dir: join(ctx.dir, 'hosts'),
    ...(ctx.secure ? { secure: { simHostIds: Array.from({ length: largest }, (_, i) => hostId(i)) } } : {}),
    ...(ctx.profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`, '--heapsnapshot-signal=SIGUSR2'] } : {}),
  });
  const probes = Math.min(MAX_PROBES, Math.floor(Math.min(...opts.sizes) / 2));
  let sim: SimFleetProcess | undefined;
  const burners = opts.burn ? CpuBurners.start(opts.burn) : undefined;
  const p99TargetMs = burners ? HOSTS_TARGET.p99UnderLoadMs : HOSTS_TARGET.p99Ms;
  const target = `<50% core, <1 GB, p99 <${p99TargetMs} ms${burners ? ` (${burners.count} CPU burners)` : ''}`;
  const form = opts.heartbeats === 'json' ? ', JSON heartbeats only' : '';
  try {
    sim = await SimFleetProcess.start(
      {
        natsUrl: plane.nats.url,
        ...(plane.simNats ? { natsAuth: plane.simNats } : {}),
        heartbeatIntervalMs: INTERVAL_MS,
        heartbeatTicks: opts.heartbeats !== 'json',
      },
      largest,
    );
    let have = 0;
    let saturatedAt: number | undefined;
    for (const size of opts.sizes) {
      if (saturatedAt !== undefined) {
        const note = `not measured: the controller was already saturated at ${fmt.int(saturatedAt)} hosts`;
        out.push(skippedRow(`hosts-${size}`, 'hosts', `hosts: ${fmt.int(size)} at 1 Hz`, target, note));
        out.push(
          skippedRow(`failure-detection-${size}`, 'failure-detection', `failure detection: ${fmt.int(size)} hosts`, DETECTION_TARGET, note),
        );
        continue;
      }
      const victim = hostId(size - 1);
      const specs: SimHostSpec[] = [];
      for (let i = have; i < size; i++) {
        const labels: Record<string, string> = { zone: 'abc'[i % 3] as string, env: 'bench' };
        if (i < probes) labels.probe = 'yes';
        // The host silenced at some size: ListHosts can then fetch it alone.
        if (opts.sizes.includes(i + 1)) labels.victim = 'yes';
        specs.push({ hostId: hostId(i), labels, running: { web: '1.0.0' }, probe: i < probes });
      }
      ctx.log(`hosts: growing the fleet to ${fmt.int(size)} simulated hosts`);
      const notes: string[] = [];
      const addStarted = Date.now();
      await sim.call('addHosts', specs, { perSecond: opts.addPerSecond });
      have = size;
      const upTimeoutMs = 30_000 + size * 2;
      try {
        await waitUntil(`${size} hosts up`, async () => (await hostCounts(plane.httpTarget)).up >= size, { timeoutMs: upTimeoutMs, intervalMs: 250 });
      } catch {
        notes.push(`the controller had not registered all ${fmt.int(size)} hosts within ${upTimeoutMs / 1000} s`);
      }
      const addMs = Date.now() - addStarted;
      await delay(opts.settleMs);

      ctx.log(`hosts: measuring ${fmt.int(size)} hosts for ${opts.windowMs / 1000} s`);
      const handledBefore = await metricValue(plane.httpTarget, 'flotilla_heartbeats_received_total').catch(() => NaN);
      const simBefore = await sim.call('stats');
      const cpu = new CpuWindow(plane.pid);
      const natsCpu = new CpuWindow(plane.nats.process.pid as number);
      const simCpu = new CpuWindow(sim.pid);
      const rss = new RssSampler(plane.pid);
      burners?.mark();
      const lastBeat = sim.call('silenceAfterNextBeat', victim);
      const markedDown = lastBeat.then(() =>
        plane.waitForLog((l) => l.msg === 'host down' && l.hostId === victim, 10 * INTERVAL_MS + opts.windowMs, { includeRecent: true }),
      );
      markedDown.catch(() => undefined);

      const delays: number[] = [];
      const sampled = new Set<string>();
      let failedPolls = 0;
      const windowStart = Date.now();
      for (let poll = 1; Date.now() - windowStart < opts.windowMs; poll++) {
        await delay(windowStart + poll * 1000 - Date.now());
        try {
          const r = await unaryCall<object, ListHostsResponse__Output>(plane.clients.control, 'ListHosts', { selector: 'probe=yes' }, undefined, 5000);
          for (const h of r.hosts) collectDelay(h, sampled, delays);
        } catch {
          failedPolls++;
        }
      }
      const cpuRead = cpu.read();
      const natsRead = natsCpu.read();
      const simRead = simCpu.read();
      const rssRead = rss.stop();
      const burnRead = burners?.read();
      const handled = (await metricValue(plane.httpTarget, 'flotilla_heartbeats_received_total').catch(() => NaN)) - handledBefore;
      const simAfter = await sim.call('stats');
      const sent = simAfter.heartbeatsSent - simBefore.heartbeatsSent;

      const detection = await measureDetection(plane, victim, lastBeat, markedDown);
      await sim.call('resume', victim);

      const p50 = percentile(delays, 50);
      const p99 = percentile(delays, 99);
      const met = cpuRead.share < HOSTS_TARGET.cpuShare && rssRead.max < HOSTS_TARGET.rssBytes && p99 < p99TargetMs;
      const saturated = !(handled >= sent * 0.9) || cpuRead.share > 0.95;
      if (saturated) saturatedAt = size;
      if (!(handled >= sent * 0.98)) {
        notes.push(`the controller took in ${Number.isNaN(handled) ? 'an unknown number' : fmt.int(handled)} of ${fmt.int(sent)} heartbeats sent in the window`);
      }
      if (failedPolls > 0) notes.push(`${failedPolls} ListHosts polls of the probes failed or timed out (5 s)`);
      if (burnRead) {
        notes.push(`${burners?.count} CPU burners took ${burnRead.cores.toFixed(2)} cores; load average ${burnRead.loadAverage1m.toFixed(1)} at the window's end`);
      }
      if (simAfter.maxLatenessMs > 100) notes.push(`the simulator sent heartbeats up to ${Math.round(simAfter.maxLatenessMs)} ms late`);
      const row: FigureRow = {
        id: `hosts-${size}`,
        group: 'hosts',
        figure: `hosts: ${fmt.int(size)} at 1 Hz${form}`,
        value: `CPU ${fmt.pct(cpuRead.share)}, RSS ${fmt.mb(rssRead.max)}, delay p50 ${fmt.ms(p50)} p99 ${fmt.ms(p99)}`,
        baseline: '—',
        ratio: '—',
        target,
        met: delays.length > 0 ? met : false,
        data: {
          hosts: size,
          cpuShare: cpuRead.share,
          rssBytes: rssRead.last,
          rssMaxBytes: rssRead.max,
          delayP50Ms: p50,
          delayP99Ms: p99,
          delayMaxMs: percentile(delays, 100),
          delaySamples: delays.length,
          heartbeatsSent: sent,
          heartbeatsHandled: handled,
          windowSeconds: cpuRead.seconds,
          natsCpuShare: natsRead.share,
          simulatorCpuShare: simRead.share,
          addSeconds: addMs / 1000,
          simulatorMaxLatenessMs: simAfter.maxLatenessMs,
          saturated,
          heartbeats: opts.heartbeats ?? 'ticks',
          cpuMicrosPerHeartbeat: (cpuRead.cpuSeconds / handled) * 1e6,
          ...(burnRead ? { burners: burners?.count, burnerCores: burnRead.cores, loadAverage1m: burnRead.loadAverage1m } : {}),
        },
        ...(notes.length ? { notes } : {}),
      };
      // Straight into `out`: a failure at a later size keeps the rows of the earlier ones.
      out.push(row);
      out.push(detectionRow(size, detection));
      ctx.log(`hosts: ${row.value}; down ${fmt.ms(detection.fromReceiptMs)} after receipt${saturated ? ' (saturated)' : ''}`);
      if (!saturated) {
        // The victim is back: wait for it before growing further.
        await waitUntil(`${size} hosts up again`, async () => (await hostCounts(plane.httpTarget)).up >= size, { timeoutMs: 10_000, intervalMs: 100 }).catch(() => undefined);
      }
    }
  } finally {
    await sim?.close();
    await plane.stop();
    await burners?.stop();
  }
}

interface Detection {
  /** The victim's last heartbeat: its send (simulator's clock) to the "host down" line's time. */
  fromSendMs: number;
  /** The same heartbeat's receipt (the victim's `last_seen_ms`, the controller's clock) to "host down". */
  fromReceiptMs: number;
  /** Send to receipt of that heartbeat: NATS and the controller's queue, not the down rule. */
  deliveryMs: number;
  /** What the controller's log line says it counted. */
  loggedSilentMs: number;
  error?: string;
}

async function measureDetection(
  plane: ControlPlane,
  victim: string,
  lastBeat: Promise<number>,
  markedDown: Promise<LogLine>,
): Promise<Detection> {
  const failed = (error: string): Detection => ({ fromSendMs: NaN, fromReceiptMs: NaN, deliveryMs: NaN, loggedSilentMs: NaN, error });
  let sentAt: number;
  let down: LogLine;
  try {
    [sentAt, down] = await Promise.all([lastBeat, markedDown]);
  } catch (err) {
    return failed(`no "host down" seen: ${firstLine(err)}`);
  }
  let receivedAt = NaN;
  try {
    // Before the victim resumes: until then its last_seen_ms is its last heartbeat's receipt.
    const r = await unaryCall<object, ListHostsResponse__Output>(plane.clients.control, 'ListHosts', { selector: 'victim=yes' }, undefined, 5000);
    receivedAt = Number(r.hosts.find((h) => h.host_id === victim)?.last_seen_ms ?? NaN);
  } catch (err) {
    return { ...failed(`cannot read the victim's last_seen_ms: ${firstLine(err)}`), fromSendMs: down.atMs - sentAt };
  }
  if (!Number.isFinite(receivedAt)) return { ...failed('ListHosts did not list the victim'), fromSendMs: down.atMs - sentAt };
  return {
    fromSendMs: down.atMs - sentAt,
    fromReceiptMs: down.atMs - receivedAt,
    deliveryMs: receivedAt - sentAt,
    loggedSilentMs: typeof down.silentMs === 'number' ? down.silentMs : NaN,
  };
}

/** Judged on the controller's part (receipt to down); the delivery is shown beside it. */
function detectionRow(size: number, d: Detection): FigureRow {
  const intervals = d.fromReceiptMs / INTERVAL_MS;
  const measured = !Number.isNaN(d.fromReceiptMs);
  return {
    id: `failure-detection-${size}`,
    group: 'failure-detection',
    figure: `failure detection: ${fmt.int(size)} hosts`,
    value: measured
      ? `${intervals.toFixed(2)} intervals after receipt (${fmt.ms(d.fromReceiptMs)}); ${fmt.ms(d.fromSendMs)} after send (delivery ${fmt.ms(d.deliveryMs)})`
      : 'n/a',
    baseline: '—',
    ratio: '—',
    target: DETECTION_TARGET,
    met: measured && d.fromReceiptMs <= DETECTION_TARGET_INTERVALS * INTERVAL_MS + DETECTION_SLACK_MS,
    data: {
      hosts: size,
      intervals,
      detectionFromReceiptMs: d.fromReceiptMs,
      detectionFromSendMs: d.fromSendMs,
      deliveryMs: d.deliveryMs,
      loggedSilentMs: d.loggedSilentMs,
      intervalsFromSend: d.fromSendMs / INTERVAL_MS,
      heartbeatIntervalMs: INTERVAL_MS,
      slackMs: DETECTION_SLACK_MS,
    },
    ...(d.error ? { notes: [d.error] } : {}),
  };
}

/** One probe's latest heartbeat: send time (echoed in load.mem_used_bytes) to the controller's receipt. */
export function collectDelay(h: HostInfo__Output, sampled: Set<string>, delays: number[]): void {
  const sentAt = Number(h.load?.mem_used_bytes ?? NaN);
  const seenAt = Number(h.last_seen_ms);
  if (!Number.isFinite(sentAt) || !Number.isFinite(seenAt) || sentAt < 1e12) return;
  const key = `${h.host_id}@${sentAt}`;
  if (sampled.has(key)) return;
  sampled.add(key);
  delays.push(seenAt - sentAt);
}

/** A row for a size that was not measured, saying why. */
export function skippedRow(id: string, group: FigureGroup, figure: string, target: string, note: string): FigureRow {
  return { id, group, figure, value: 'not measured', baseline: '—', ratio: '—', target, met: false, data: {}, notes: [note] };
}
