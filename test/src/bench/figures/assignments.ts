// What writing assignments costs, measured on the real AssignmentWriter in this process over a
// real nats-server (KV writes fsynced before they are acknowledged, as shipped), each
// measurement on a fresh server:
// - a rollout's writes: a fleet moved in ten steps of 10%, step-signed with pipelined
//   compare-and-set writes, against the per-host path in the same run (read, sign, write, 16 at
//   a time: how every step was written before), and against the store's own floors: as many
//   plain KV puts of the same size one after another into one bucket (the layout before the
//   assignment shards), and 16 in flight over the eight assignment buckets (the layout now);
// - re-signing for expiry: the clock driven through the hours in which a fleet written at once
//   comes due (half the TTL plus each host's share of a quarter), one tick a minute.
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ASSIGNMENT_SHARDS, AssignmentWriter, openControllerStore, shardIndex, type AppsMutation } from '@flotilla/controller';
import {
  DEFAULT_ASSIGNMENT_TTL_MS,
  createLogger,
  generateKeyPairPem,
  makeDescriptor,
  parsePrivateKey,
  signDescriptor,
  type AppAssignment,
} from '@flotilla/shared';
import { startNatsServer } from '../../nats-server.js';
import type { BenchContext } from '../context.js';
import { cpuSeconds } from '../proc.js';
import { fmt, type FigureRow } from '../results.js';

/** A few percent of a core, as issue 16 asks: 3%. */
const TARGET_SHARE = 0.03;
const FLEET = 25_000;
const TICK_MS = 60_000;
const ROLLOUT_TARGET_MS = 5000;

export interface AssignmentFigureOptions {
  /** Hosts written and re-signed; the re-signing cost is scaled per assignment to 25,000. */
  hosts: number;
}

interface Store {
  nc: NatsConnection;
  store: Awaited<ReturnType<typeof openControllerStore>>;
  natsPid: number;
}

async function onFreshStore<R>(fn: (s: Store) => Promise<R>): Promise<R> {
  const nats = await startNatsServer();
  const nc = await connect({ servers: nats.url });
  try {
    return await fn({ nc, store: await openControllerStore(nc), natsPid: nats.process.pid as number });
  } finally {
    await nc.close();
    await nats.stop();
  }
}

interface Cost {
  wallMs: number;
  cpuS: number;
  natsCpuS: number;
}

export async function assignmentFigures(ctx: BenchContext, opts: AssignmentFigureOptions, rows: FigureRow[]): Promise<void> {
  const controllerKey = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'controller.key');
  const releaseKey = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'release.key');
  const release = signDescriptor(makeDescriptor({ app: 'web', version: '1.4.2', sha256: 'a'.repeat(64), size: 12_345_678 }), releaseKey);
  const app = (version: string): AppAssignment => ({ version, release, stableVersion: '1.4.1' });
  const to = (version: string): AppsMutation => (current) => ({ ...current, web: app(version) });
  const ids = Array.from({ length: opts.hosts }, (_, i) => `host-${i}`);
  const writerOn = (s: Store, now?: () => number) =>
    AssignmentWriter.load({
      bucket: s.store.assignments,
      signingKey: controllerKey,
      publisher: { publish: (hostId, signed) => s.nc.publish(`flotilla.v1.assign.${hostId}`, JSON.stringify(signed)) },
      logger: createLogger({ name: 'bench', level: 'warn' }),
      ...(now ? { now } : {}),
    });
  const timed = async (s: Store, body: () => Promise<unknown>): Promise<Cost> => {
    const cpu = process.cpuUsage();
    const natsCpu = cpuSeconds(s.natsPid);
    const t0 = performance.now();
    await body();
    await s.nc.flush();
    const used = process.cpuUsage(cpu);
    return { wallMs: performance.now() - t0, cpuS: (used.user + used.system) / 1e6, natsCpuS: cpuSeconds(s.natsPid) - natsCpu };
  };

  /** The fleet on 1.0.0, then moved to 2.0.0 in ten steps; `perHost` writes each step the previous way. */
  const rollout = (perHost: boolean) =>
    onFreshStore(async (s) => {
      const writer = await writerOn(s);
      for (const id of ids) writer.noteAnnounce(id, !perHost);
      await writer.assignMany(ids, to('1.0.0'));
      await s.nc.flush();
      const step = Math.ceil(ids.length / 10);
      return timed(s, async () => {
        for (let i = 0; i < ids.length; i += step) {
          const batch = ids.slice(i, i + step);
          if (perHost) await mapLimited(batch, 16, (id) => writer.assign(id, to('2.0.0')));
          else await writer.assignMany(batch, to('2.0.0'));
        }
      });
    });
  /** As many fsynced KV puts of an assignment record's size, one after another into one bucket. */
  const floor = (bytes: number) =>
    onFreshStore(async (s) => {
      const value = new Uint8Array(bytes);
      const raw = await new Kvm(s.nc).create('bench_floor', { history: 1 });
      return timed(s, async () => {
        for (const id of ids) await raw.put(id, value);
      });
    });
  /** The same puts as the writer lays them out: each host's in its shard, 16 in flight. */
  const shardedFloor = (bytes: number) =>
    onFreshStore(async (s) => {
      const value = new Uint8Array(bytes);
      const shards = await Promise.all(Array.from({ length: ASSIGNMENT_SHARDS }, (_, i) => new Kvm(s.nc).create(`bench_floor_${i}`, { history: 1 })));
      return timed(s, async () => {
        await mapLimited(ids, 16, (id) => (shards[shardIndex(id, ASSIGNMENT_SHARDS)] as (typeof shards)[number]).put(id, value));
      });
    });

  ctx.log(`assignments: ${fmt.int(opts.hosts)} hosts moved in ten steps, step-signed and pipelined`);
  const stepped = await rollout(false);
  ctx.log('assignments: the same, written host by host as before');
  const previous = await rollout(true);
  ctx.log('assignments: the store alone, as many fsynced puts one after another into one bucket');
  const store = await floor(1800);
  ctx.log('assignments: the store alone, the same puts 16 in flight over the eight assignment buckets');
  const sharded = await shardedFloor(1800);
  const cost = (c: Cost) => `${fmt.s(c.wallMs)}, CPU ${c.cpuS.toFixed(2)} s + nats ${c.natsCpuS.toFixed(2)} s`;
  rows.push({
    id: 'assign-steps',
    group: 'assignments',
    figure: `a rollout's assignment writes: ${fmt.int(opts.hosts)} hosts in ten steps (wall; writer and nats-server CPU)`,
    value: cost(stepped),
    baseline: `${cost(previous)} host by host`,
    ratio: ((stepped.cpuS + stepped.natsCpuS) / (previous.cpuS + previous.natsCpuS)).toFixed(2),
    target: `< ${ROLLOUT_TARGET_MS / 1000} s at ${fmt.int(FLEET)} hosts`,
    met: opts.hosts >= FLEET ? stepped.wallMs < ROLLOUT_TARGET_MS : null,
    data: {
      hosts: opts.hosts,
      ...prefixed('stepped', stepped),
      ...prefixed('previous', previous),
      ...prefixed('storeFloor', store),
      ...prefixed('shardedFloor', sharded),
    },
    notes: [
      `the store alone (${fmt.int(opts.hosts)} fsynced KV puts one after another into one bucket, nothing else): ${cost(store)}`,
      `the store alone as the writer lays it out (the same puts, 16 in flight over ${ASSIGNMENT_SHARDS} buckets): ${cost(sharded)}`,
    ],
  });

  /** The hosts through the hours they come due; `proofs` says whether they announced proofs. */
  const resign = (proofs: boolean) =>
    onFreshStore(async (s) => {
      let now = Date.now();
      const writer = await writerOn(s, () => now);
      for (const id of ids) writer.noteAnnounce(id, proofs);
      await writer.assignMany(ids, to('1.0.0'));
      await s.nc.flush();
      // The first scan works out each assignment's due time (once per assignment): not the minute's cost.
      await writer.refreshDue();
      const SCANS = 20;
      const idle = await timed(s, async () => {
        for (let i = 0; i < SCANS; i++) await writer.refreshDue();
      });
      const scanMicros = (idle.cpuS * 1e6) / (SCANS * ids.length);
      // From half the life to three quarters of it every host comes due once, at its own minute.
      const start = now + DEFAULT_ASSIGNMENT_TTL_MS / 2 - TICK_MS;
      const end = now + Math.ceil((DEFAULT_ASSIGNMENT_TTL_MS * 3) / 4) + TICK_MS;
      let resigned = 0;
      let ticks = 0;
      const window = await timed(s, async () => {
        for (now = start; now <= end; now += TICK_MS) {
          resigned += (await writer.refreshDue()).due;
          ticks++;
        }
      });
      // The scans of the window are counted apart: a real hour has sixty of them.
      const resignMicros = Math.max(0, window.cpuS * 1e6 - ticks * ids.length * scanMicros);
      return { cpuMicros: resignMicros / Math.max(1, resigned), natsCpuMicros: (window.natsCpuS * 1e6) / Math.max(1, resigned), scanMicros, resigned, ticks };
    });

  ctx.log(`resign: ${fmt.int(opts.hosts)} hosts through the hours they come due, step-signed`);
  const proof = await resign(true);
  ctx.log('resign: the same, each signed singly (hosts that never announced proofs)');
  const single = await resign(false);
  // At 25,000 hosts each assignment is re-signed once per half its life; the scan runs every minute.
  const perHour = FLEET / (DEFAULT_ASSIGNMENT_TTL_MS / 3_600_000 / 2);
  const cpuPerHour = (m: typeof proof) => (perHour * m.cpuMicros + 60 * FLEET * m.scanMicros) / 1e6;
  const share = (m: typeof proof) => cpuPerHour(m) / 3600;
  rows.push({
    id: 'resign',
    group: 'assignments',
    figure: `assignment re-signing, ${fmt.int(FLEET)} hosts, TTL ${DEFAULT_ASSIGNMENT_TTL_MS / 3_600_000} h: controller CPU per hour`,
    value: `${cpuPerHour(proof).toFixed(2)} s/h (${fmt.pct(share(proof))} of a core)`,
    baseline: `${cpuPerHour(single).toFixed(2)} s/h signed singly`,
    ratio: (cpuPerHour(proof) / cpuPerHour(single)).toFixed(2),
    target: `< ${fmt.pct(TARGET_SHARE)} of a core`,
    met: proof.resigned === opts.hosts ? share(proof) < TARGET_SHARE : false,
    data: {
      hosts: opts.hosts,
      resigned: proof.resigned,
      ticks: proof.ticks,
      assignmentsPerHourAt25000: Math.round(perHour),
      cpuMicrosPerAssignment: Math.round(proof.cpuMicros),
      scanMicrosPerHost: Number(proof.scanMicros.toFixed(3)),
      natsCpuMicrosPerAssignment: Math.round(proof.natsCpuMicros),
      singleCpuMicrosPerAssignment: Math.round(single.cpuMicros),
      singleNatsCpuMicrosPerAssignment: Math.round(single.natsCpuMicros),
      cpuSecondsPerHour: cpuPerHour(proof),
      natsCpuSecondsPerHour: (perHour * proof.natsCpuMicros) / 1e6,
    },
    notes: [
      `${fmt.int(proof.resigned)} of ${fmt.int(opts.hosts)} hosts re-signed over ${proof.ticks} one-minute ticks; nats-server adds ${((perHour * proof.natsCpuMicros) / 1e6).toFixed(2)} s/h`,
    ],
  });
}

/** Runs `fn` over `items`, at most `limit` at once (the writer's previous assignMany). */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function prefixed(prefix: string, m: Cost): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, v]));
}
