// The controller's cost per rollout transition, on a real nats-server with JetStream KV:
//   node test/dist/bench/rollout-transition.js [--hosts 10,100,1000] [--rounds 20]
//
// For each fleet size it drives one rollout through the real I/O layer (RolloutManager over KV,
// the real AssignmentWriter signing and writing assignments, the real HostRegistry fed with
// heartbeats) on a hand-driven clock, and reports:
//   - a heartbeat that changes nothing: time per heartbeat (registry + decide, no write);
//   - a transition of one host (a report starts its healthy wait): decide, the KV write of the
//     whole state, no action;
//   - a step starting: decide, the KV write, and the assignments of the step's hosts.
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import {
  AppLedger,
  AssignmentWriter,
  HostRegistry,
  RolloutManager,
  RolloutStore,
  openControllerStore,
  rolloutBuckets,
  type ArtifactRecord,
  type RolloutTimers,
  type TransitionStats,
} from '@flotilla/controller';
import { createLogger, generateKeyPairPem, parsePrivateKey, type AppStatusReport, type Heartbeat } from '@flotilla/shared';
import { heartbeatMessage } from '../host-messages.js';
import { startNatsServer } from '../nats-server.js';

const { values } = parseArgs({ options: { hosts: { type: 'string', default: '10,100,1000' }, rounds: { type: 'string', default: '20' } } });
const sizes = values.hosts.split(',').map(Number);
const rounds = Number(values.rounds);
const logger = createLogger({ name: 'bench', level: 'silent' });

function artifact(version: string): ArtifactRecord {
  return {
    app: 'web',
    version,
    sha256: 'a'.repeat(64),
    size: 1,
    keyId: 'k',
    uploadedAtMs: 0,
    signed: { payload: `{"app":"web","version":"${version}"}`, keyId: 'k', signature: 's' },
  };
}

function report(version: string, health: AppStatusReport['health'] = 'healthy'): AppStatusReport {
  return {
    app: 'web',
    desiredVersion: version,
    activeVersion: version,
    processState: 'running',
    pid: 1,
    restarts: 0,
    health,
    healthSinceMs: 0,
    installPhase: 'done',
    installVersion: version,
    error: null,
    updatedAtMs: 0,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))] ?? NaN;
const f = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

async function bench(nats: { url: string }, hostCount: number): Promise<void> {
  const nc = await connect({ servers: nats.url });
  try {
    const store = await openControllerStore(nc);
    const app = 'web';
    let nowMs = 1_700_000_000_000;
    const pending: { at: number; fire: () => void }[] = [];
    const timers: RolloutTimers = {
      set: (fire, delayMs) => {
        const t = { at: nowMs + delayMs, fire };
        pending.push(t);
        return t;
      },
      clear: (handle) => {
        const i = pending.indexOf(handle as (typeof pending)[number]);
        if (i >= 0) pending.splice(i, 1);
      },
    };
    const now = () => nowMs;
    const registry = await HostRegistry.load({ bucket: store.hosts, downAfterMissed: 3, logger, now });
    const writer = await AssignmentWriter.load({
      bucket: store.assignments,
      signingKey: parsePrivateKey(generateKeyPairPem().privateKeyPem, 'bench.key'),
      publisher: { publish: (hostId, signed) => nc.publish(`bench.assign.${hostId}`, JSON.stringify(signed)) },
      logger,
      now,
      concurrency: 16,
    });
    const stats: TransitionStats[] = [];
    const manager = await RolloutManager.load({
      store: new RolloutStore(rolloutBuckets(store.rollouts)),
      ledger: new AppLedger({
        apps: store.apps,
        rolloutsKv: store.rollouts,
        artifacts: { get: async (_a, v) => artifact(v), list: async () => [artifact('1.0.0'), artifact('2.0.0')] },
        now,
      }),
      hosts: registry,
      assignments: writer,
      logger,
      now,
      timers,
      onTransition: (s) => stats.push(s),
    });
    manager.listen();

    const ids = Array.from({ length: hostCount }, (_, i) => `host-${String(i).padStart(5, '0')}`);
    const beats = new Map<string, number>();
    const beat = (hostId: string, apps: AppStatusReport[]): Heartbeat => {
      const n = (beats.get(hostId) ?? 0) + 1;
      beats.set(hostId, n);
      const host = { hostId, bootId: 'boot', heartbeatIntervalMs: 5000, labels: { zone: `z${Number(hostId.slice(5)) % 3}` } };
      return heartbeatMessage(host, { n, sentAtMs: nowMs, apps });
    };
    for (const id of ids) await registry.handleHeartbeat(beat(id, [report('1.0.0')]));
    await store.apps.put(app, { name: app, stableVersion: '1.0.0', stableSinceMs: 0, createdAtMs: 0 });

    const { state } = await manager.start({
      app,
      version: '2.0.0',
      canary: 1,
      batch: '25%',
      minHealthyTime: '10s',
      healthyDeadline: '1h',
      createdBy: 'bench',
    });
    await manager.idle();
    const stateBytes = Buffer.byteLength(JSON.stringify(state));

    // Heartbeats that change nothing: every host repeats its report.
    const noop: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      for (const id of ids) await registry.handleHeartbeat(beat(id, [report(id === state!.steps[0]!.hostIds[0] ? '2.0.0' : '1.0.0', 'unknown')]));
      await manager.idle();
      noop.push((performance.now() - t0) / ids.length);
    }

    // A transition of one host: a report flips health, which writes the state and acts on nothing.
    const canary = state!.steps[0]!.hostIds[0]!;
    const one: TransitionStats[] = [];
    for (let r = 0; r < rounds; r++) {
      stats.length = 0;
      nowMs += 10;
      await registry.handleHeartbeat(beat(canary, [report('2.0.0', r % 2 === 0 ? 'healthy' : 'unknown')]));
      await manager.idle();
      one.push(...stats);
    }

    // A step starting: the canary passes (time), step 2's hosts are assigned.
    await registry.handleHeartbeat(beat(canary, [report('2.0.0', 'healthy')]));
    await manager.idle();
    stats.length = 0;
    nowMs += 10_000;
    for (const t of pending.splice(0)) t.fire();
    await manager.idle();
    const step = stats.find((s) => s.actMs > 0.5) ?? stats[0];
    const stepHosts = (await manager.get({ app })).steps[1]?.hostIds.length ?? 0;

    const dm = one.map((s) => s.decideMs);
    const pm = one.map((s) => s.persistMs);
    const tm = one.map((s) => s.decideMs + s.persistMs + s.actMs);
    console.log(
      [
        `${String(hostCount).padStart(5)} hosts  state ${(stateBytes / 1024).toFixed(0).padStart(4)} KiB`,
        `no-op heartbeat ${f(median(noop))}`,
        `one-host transition: decide ${f(median(dm))}, persist ${f(median(pm))}, total ${f(median(tm))} (p95 ${f(p95(tm))})`,
        `step start (${stepHosts} assignments): decide ${f(step?.decideMs ?? NaN)}, persist ${f(step?.persistMs ?? NaN)}, act ${f(step?.actMs ?? NaN)}`,
      ].join('  |  '),
    );
    await manager.stop(1000);
    await registry.stop(1000);
  } finally {
    await nc.close();
  }
}

const nats = await startNatsServer();
try {
  for (const n of sizes) {
    // Empty buckets for the next size.
    await bench(nats, n);
    const kvm = await connect({ servers: nats.url });
    const jsm = await import('@nats-io/jetstream').then((m) => m.jetstreamManager(kvm));
    for await (const s of jsm.streams.list()) await jsm.streams.delete(s.config.name);
    await kvm.close();
  }
} finally {
  await nats.stop();
}
