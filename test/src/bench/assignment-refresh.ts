// What keeping assignments fresh costs the controller:
//   node test/dist/bench/assignment-refresh.js [--hosts 2000]
//
// Two figures: the CPU time of building and signing one assignment (Ed25519 over its canonical
// JSON), and the controller's CPU time per re-signed assignment through the real AssignmentWriter
// on a real nats-server (read, sign, compare-and-set into KV, publish). Each host's assignment is
// re-signed about once per half its life, so at N hosts and a TTL of T hours the controller signs
// N / (T/2) assignments an hour; the report scales the measured cost to 25,000 hosts and 24 h.
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { AssignmentWriter, buildAssignment, openControllerStore } from '@flotilla/controller';
import {
  DEFAULT_ASSIGNMENT_TTL_MS,
  createLogger,
  generateKeyPairPem,
  makeDescriptor,
  parsePrivateKey,
  signAssignment,
  signDescriptor,
  type AppAssignment,
} from '@flotilla/shared';
import { startNatsServer } from '../nats-server.js';

const { values } = parseArgs({ options: { hosts: { type: 'string', default: '2000' } } });
const hosts = Number(values.hosts);
const controllerKey = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'controller.key');
const releaseKey = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'release.key');
const release = signDescriptor(makeDescriptor({ app: 'web', version: '1.4.2', sha256: 'a'.repeat(64), size: 12_345_678 }), releaseKey);
const apps: Record<string, AppAssignment> = { web: { version: '1.4.2', release, stableVersion: '1.4.1' } };

function cpuMs(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
}

// 1. Build and sign only.
const rounds = 20_000;
let cpu = process.cpuUsage();
for (let i = 0; i < rounds; i++) {
  signAssignment(buildAssignment({ hostId: `host-${i}`, previousSeq: i, apps, nowMs: Date.now() }), controllerKey);
}
const signUs = (cpuMs(cpu) * 1000) / rounds;

// 2. The writer's whole re-sign, over real KV.
const nats = await startNatsServer();
const nc = await connect({ servers: nats.url });
try {
  const store = await openControllerStore(nc);
  let now = Date.now();
  const writer = await AssignmentWriter.load({
    bucket: store.assignments,
    signingKey: controllerKey,
    publisher: { publish: (hostId, signed) => nc.publish(`flotilla.v1.assign.${hostId}`, JSON.stringify(signed)) },
    logger: createLogger({ name: 'bench', level: 'warn' }),
    now: () => now,
  });
  const ids = Array.from({ length: hosts }, (_, i) => `host-${i}`);
  await writer.assignMany(ids, () => ({ ...apps }));
  // Past half the life plus the largest per-host share of the next quarter: every host is due.
  now += Math.ceil(DEFAULT_ASSIGNMENT_TTL_MS * 0.76);
  const wall = performance.now();
  cpu = process.cpuUsage();
  let written = 0;
  for (let i = 0; i < ids.length; i += 16) {
    const batch = await Promise.all(ids.slice(i, i + 16).map((id) => writer.refresh(id)));
    written += batch.filter(Boolean).length;
  }
  const refreshCpuMs = cpuMs(cpu);
  const wallMs = performance.now() - wall;
  // The minute's scan when nothing is due: one lookup per host.
  cpu = process.cpuUsage();
  for (let r = 0; r < 10; r++) for (const id of ids) await writer.refresh(id);
  const scanMicrosPerHost = (cpuMs(cpu) * 1000) / (10 * ids.length);
  const perUs = (refreshCpuMs * 1000) / written;
  const perHour = 25_000 / (DEFAULT_ASSIGNMENT_TTL_MS / 3_600_000 / 2);
  console.log(
    JSON.stringify(
      {
        signOnlyMicrosPerAssignment: Math.round(signUs),
        hostsRefreshed: written,
        refreshCpuMicrosPerAssignment: Math.round(perUs),
        refreshWallMs: Math.round(wallMs),
        idleScanMicrosPerHost: Number(scanMicrosPerHost.toFixed(2)),
        at25000HostsTtl24h: {
          assignmentsPerHour: Math.round(perHour),
          cpuSecondsPerHour: Number(((perHour * perUs) / 1e6).toFixed(2)),
          signOnlyCpuSecondsPerHour: Number(((perHour * signUs) / 1e6).toFixed(3)),
          idleScanCpuSecondsPerHour: Number(((60 * 25_000 * scanMicrosPerHost) / 1e6).toFixed(2)),
        },
      },
      null,
      2,
    ),
  );
} finally {
  await nc.close();
  await nats.stop();
}
