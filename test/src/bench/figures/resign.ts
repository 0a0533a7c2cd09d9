// What re-signing assignments for expiry costs the controller: the real AssignmentWriter in this
// process on a real nats-server (KV writes fsynced, as shipped), its clock driven through the
// hours in which a fleet written at once comes due (half the TTL plus each host's share of a
// quarter), one re-signing tick a minute as the controller runs it.
import { connect } from '@nats-io/transport-node';
import { AssignmentWriter, openControllerStore } from '@flotilla/controller';
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

export interface ResignOptions {
  /** Hosts re-signed in the measurement; the cost is scaled per assignment to 25,000. */
  hosts: number;
}

interface Measured {
  /** This process's CPU per re-signed assignment (build, sign, compare-and-set, publish). */
  cpuMicros: number;
  /** The minute's scan for due hosts, per host, when none is due. */
  scanMicros: number;
  natsCpuMicros: number;
  resigned: number;
  ticks: number;
}

export async function resignFigures(ctx: BenchContext, opts: ResignOptions, rows: FigureRow[]): Promise<void> {
  const nats = await startNatsServer();
  const nc = await connect({ servers: nats.url });
  try {
    const store = await openControllerStore(nc);
    const controllerKey = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'controller.key');
    const releaseKey = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'release.key');
    const release = signDescriptor(makeDescriptor({ app: 'web', version: '1.4.2', sha256: 'a'.repeat(64), size: 12_345_678 }), releaseKey);
    const apps: Record<string, AppAssignment> = { web: { version: '1.4.2', release, stableVersion: '1.4.1' } };

    const measure = async (prefix: string, proofs: boolean): Promise<Measured> => {
      let now = Date.now();
      const writer = await AssignmentWriter.load({
        bucket: store.assignments,
        signingKey: controllerKey,
        publisher: { publish: (hostId, signed) => nc.publish(`flotilla.v1.assign.${hostId}`, JSON.stringify(signed)) },
        logger: createLogger({ name: 'bench', level: 'warn' }),
        now: () => now,
      });
      const ids = Array.from({ length: opts.hosts }, (_, i) => `${prefix}-${i}`);
      for (const id of ids) writer.noteAnnounce(id, proofs);
      await writer.assignMany(ids, () => ({ ...apps }));
      await nc.flush();
      // The first scan works out each assignment's due time (once per assignment): not the minute's cost.
      await writer.refreshDue();
      let cpu = process.cpuUsage();
      const SCANS = 20;
      for (let i = 0; i < SCANS; i++) await writer.refreshDue();
      const idle = process.cpuUsage(cpu);
      const scanMicros = (idle.user + idle.system) / (SCANS * ids.length);
      // From half the life to three quarters of it every host comes due once, at its own minute.
      const start = now + DEFAULT_ASSIGNMENT_TTL_MS / 2 - TICK_MS;
      const end = now + Math.ceil((DEFAULT_ASSIGNMENT_TTL_MS * 3) / 4) + TICK_MS;
      cpu = process.cpuUsage();
      const natsCpu = cpuSeconds(nats.process.pid as number);
      let resigned = 0;
      let ticks = 0;
      for (now = start; now <= end; now += TICK_MS) {
        resigned += (await writer.refreshDue()).due;
        ticks++;
      }
      await nc.flush();
      const used = process.cpuUsage(cpu);
      // The scans of the window are counted apart: a real hour has sixty of them.
      const resignMicros = used.user + used.system - ticks * ids.length * scanMicros;
      return {
        cpuMicros: Math.max(0, resignMicros) / Math.max(1, resigned),
        scanMicros,
        natsCpuMicros: ((cpuSeconds(nats.process.pid as number) - natsCpu) * 1e6) / Math.max(1, resigned),
        resigned,
        ticks,
      };
    };

    ctx.log(`resign: ${fmt.int(opts.hosts)} hosts through the hours they come due, step-signed`);
    const proof = await measure('p', true);
    ctx.log(`resign: the same, each signed singly (hosts that never announced proofs)`);
    const single = await measure('s', false);

    // At 25,000 hosts each assignment is re-signed once per half its life.
    const perHour = FLEET / (DEFAULT_ASSIGNMENT_TTL_MS / 3_600_000 / 2);
    const cpuPerHour = (m: Measured) => (perHour * m.cpuMicros + 60 * FLEET * m.scanMicros) / 1e6;
    const share = (m: Measured) => cpuPerHour(m) / 3600;
    rows.push({
      id: 'resign',
      group: 'resign',
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
  } finally {
    await nc.close();
    await nats.stop();
  }
}
