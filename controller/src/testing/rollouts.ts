import {
  createLogger,
  generateKeyPairPem,
  parsePrivateKey,
  type AppStatusReport,
  type Heartbeat,
} from '@flotilla/shared';
import type { Alarm } from '../alarms/types.js';
import { AssignmentWriter, type AppsMutation } from '../assignments.js';
import { HostRegistry, type HostListener } from '../hosts.js';
import type { RolloutSpecInput, RolloutState } from '../engine/index.js';
import { memoryBucket, memoryKv } from '../store/memory-kv.js';
import { recordSchemas, type AppRecord, type ArtifactRecord, type AssignmentRecord, type HostRecord } from '../store/records.js';
import { AppLedger } from '../apps/ledger.js';
import { AlarmHandler } from '../reverts/alarm-handler.js';
import { FailedStepReverter } from '../reverts/failed-step.js';
import { RevertPath } from '../reverts/revert-path.js';
import { Rollbacks } from '../reverts/rollback.js';
import { RevertStore } from '../reverts/store.js';
import { RolloutManager } from '../rollouts/manager.js';
import { rolloutBuckets, RolloutStore } from '../rollouts/store.js';
import type { RolloutTimers } from '../rollouts/types.js';

/*
 * The rollout layer over in-memory KV, for unit tests: a real host registry, a real assignment
 * writer, the app ledger, the rollout registry, the revert path with its alarm handler and
 * rollbacks, and a clock that moves only when the test says so.
 */

export const logger = createLogger({ name: 'test', level: 'silent' });
const signingKey = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'controller.key');
export const T0 = 1_700_000_000_000;

/** A clock whose timers fire only when the test moves it. */
export class Clock {
  nowMs = T0;
  private readonly pending = new Map<number, { at: number; fire: () => void; alive: () => boolean }>();
  private seq = 0;
  readonly now = (): number => this.nowMs;

  /** Timers for one manager; `kill` drops them (the process died). */
  timers(): RolloutTimers & { kill(): void } {
    let alive = true;
    return {
      set: (fire, delayMs) => {
        const id = ++this.seq;
        this.pending.set(id, { at: this.nowMs + delayMs, fire, alive: () => alive });
        return id;
      },
      clear: (handle) => void this.pending.delete(handle as number),
      kill: () => {
        alive = false;
      },
    };
  }

  /** Moves time forward, firing due timers in order and letting `settle` run after each. */
  async advance(ms: number, settle: () => Promise<void>): Promise<void> {
    const until = this.nowMs + ms;
    for (let i = 0; i < 10_000; i++) {
      const next = [...this.pending.entries()].filter(([, t]) => t.alive()).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > until) break;
      this.pending.delete(next[0]);
      this.nowMs = Math.max(this.nowMs, next[1].at);
      next[1].fire();
      await settle();
    }
    this.nowMs = until;
    await settle();
  }
}

export function artifact(version: string, app = 'web'): ArtifactRecord {
  return {
    app,
    version,
    sha256: 'a'.repeat(64),
    size: 10,
    keyId: 'k',
    uploadedAtMs: T0 - 1000 + Number(version.split('.')[0]),
    signed: { payload: `{"app":"${app}","version":"${version}"}`, keyId: 'k', signature: 's' },
  };
}

export function report(version: string, over: Partial<AppStatusReport> = {}): AppStatusReport {
  return {
    app: 'web',
    desiredVersion: version,
    activeVersion: version,
    processState: 'running',
    pid: 100,
    restarts: 0,
    health: 'healthy',
    healthSinceMs: 0,
    installPhase: 'done',
    installVersion: version,
    error: null,
    updatedAtMs: 0,
    ...over,
  };
}

interface AssignCall {
  hostIds: string[];
  version: string;
  /** The rollout's state in KV when the call was made. */
  persisted: RolloutState;
}

/**
 * The I/O layer over in-memory KV: a real host registry, a real assignment writer, the clock
 * above. Managers can be "restarted": a new one loads from the same KV while the old one is cut
 * off from events, timers and writes, as if its process had died.
 */
/**
 * `apps`: the apps with records and artifacts (1.0.0 to 3.0.0 each); hosts report only `web`.
 */
export async function fixture(
  hostCount = 5,
  opts: { stable?: string | null; revertOutsideWatchWindow?: boolean; apps?: readonly string[] } = {},
) {
  const clock = new Clock();
  const rolloutsKv = memoryKv('flotilla_rollouts');
  const buckets = rolloutBuckets(rolloutsKv);
  const apps = memoryBucket<AppRecord>('flotilla_apps', recordSchemas.apps as never).bucket;
  const stable = opts.stable === undefined ? '1.0.0' : opts.stable;
  const appNames = opts.apps ?? ['web'];
  for (const name of appNames) {
    await apps.put(name, { name, stableVersion: stable, stableSinceMs: stable ? T0 - 5000 : null, createdAtMs: T0 - 10_000 });
  }
  const versions = ['1.0.0', '2.0.0', '3.0.0'];
  const artifacts = {
    get: async (app: string, version: string) => (appNames.includes(app) && versions.includes(version) ? artifact(version, app) : null),
    list: async (app?: string) => appNames.filter((a) => app === undefined || a === app).flatMap((a) => versions.map((v) => artifact(v, a))),
  };
  const registry = await HostRegistry.load({
    bucket: memoryBucket<HostRecord>('flotilla_hosts', recordSchemas.hosts as never).bucket,
    downAfterMissed: 3,
    logger,
    now: clock.now,
  });
  const hostIds = Array.from({ length: hostCount }, (_, i) => `h${i + 1}`);
  const beats = new Map<string, number>();
  const heartbeat = (hostId: string, apps: AppStatusReport[]): Heartbeat => {
    const n = (beats.get(hostId) ?? 0) + 1;
    beats.set(hostId, n);
    return {
      type: 'heartbeat',
      hostId,
      n,
      bootId: `boot-${hostId}`,
      sentAtMs: clock.nowMs,
      heartbeatIntervalMs: 1000,
      acceptedSeq: 0,
      load: { cpuPercent: 1, memUsedBytes: 1, memTotalBytes: 2, diskFreeBytes: 3 },
      apps,
      labels: { zone: ['a', 'b', 'c'][Number(hostId.slice(1)) % 3] as string },
    };
  };
  for (const id of hostIds) await registry.handleHeartbeat(heartbeat(id, stable ? [report(stable)] : []));

  const assignmentsBucket = memoryBucket<AssignmentRecord>('flotilla_assignments', recordSchemas.assignments as never).bucket;
  const writer = await AssignmentWriter.load({
    bucket: assignmentsBucket,
    signingKey,
    publisher: { publish: () => {} },
    logger,
    now: clock.now,
  });
  const calls: AssignCall[] = [];
  const transitions: number[] = [];
  /** When set, the manager's process "dies" at its next assignment call, before writing it. */
  const crash = { atNextAssign: false };

  const ledger = new AppLedger({ apps, rolloutsKv, artifacts, now: clock.now });
  const revertStore = new RevertStore(rolloutsKv);

  interface Running {
    manager: RolloutManager;
    alarms: AlarmHandler;
    rollbacks: Rollbacks;
    reverts: RevertPath;
    kill: () => void;
    dead: Promise<void>;
  }
  let current: Running | undefined;
  const start = async () => {
    let alive = true;
    const timers = clock.timers();
    const hosts = {
      list: () => registry.list(),
      subscribe: (listener: HostListener) => registry.subscribe((e) => (alive ? listener(e) : undefined)),
    };
    const assignments = {
      assignMany: async (ids: readonly string[], mutate: AppsMutation) => {
        if (crash.atNextAssign) {
          crash.atNextAssign = false;
          current?.kill();
        }
        // A dead process writes nothing more.
        if (!alive) return new Promise<never>(() => {});
        const persisted = (await buckets.states.list('rollout.>')).sort((a, b) => b.revision - a.revision)[0]?.value as RolloutState;
        calls.push({ hostIds: [...ids], version: mutate({}, ids[0] as string).web?.version as string, persisted });
        return writer.assignMany(ids, mutate);
      },
      hostIds: () => writer.hostIds(),
      current: (hostId: string) => writer.current(hostId),
    };
    const store = new RolloutStore(buckets);
    // Wired as fleet-services.ts wires them: a failed step reverts through the revert path.
    let path: RevertPath | undefined;
    const failedSteps = new FailedStepReverter({
      reverts: () => path as RevertPath,
      logger,
      now: clock.now,
    });
    const manager = await RolloutManager.load({
      store,
      ledger,
      hosts,
      assignments,
      logger,
      now: clock.now,
      timers,
      onTransition: () => transitions.push(1),
      reverts: failedSteps,
    });
    const reverts = new RevertPath({ store: revertStore, ledger, assignments, rollouts: manager, logger, now: clock.now });
    path = reverts;
    manager.listen();
    await manager.idle();
    const alarms = new AlarmHandler({
      rollouts: manager,
      ledger,
      reverts,
      logger,
      now: clock.now,
      revertOutsideWatchWindow: () => opts.revertOutsideWatchWindow ?? false,
    });
    const rollbacks = new Rollbacks({ rollouts: manager, ledger, reverts, assignments, logger, now: clock.now });
    await reverts.resume();
    let died: () => void = () => {};
    current = {
      manager,
      alarms,
      rollbacks,
      reverts,
      dead: new Promise<void>((resolve) => (died = resolve)),
      kill: () => {
        alive = false;
        timers.kill();
        died();
      },
    };
    return manager;
  };

  const f = {
    clock,
    kv: rolloutsKv,
    buckets,
    apps,
    registry,
    writer,
    calls,
    crash,
    transitions,
    ledger,
    hostIds,
    get manager(): RolloutManager {
      return (current as { manager: RolloutManager }).manager;
    },
    get alarms(): AlarmHandler {
      return (current as Running).alarms;
    },
    get rollbacks(): Rollbacks {
      return (current as Running).rollbacks;
    },
    /** The app's revert record as stored. */
    async revert(app = 'web') {
      return (await revertStore.read(app))?.value ?? null;
    },
    /** An alarm for web from `source`, as the webhooks and built-in alarms hand it over. */
    raise(source = 'alertmanager', reason = 'HighErrorRate: 5xx above 5%', app = 'web') {
      const alarm: Alarm = { app, source, reason, severity: 'critical', receivedAtMs: clock.nowMs, summary: { firing: 1 } };
      return (current as Running).alarms.raise(alarm);
    },
    start,
    /** Kills the running manager: no more events, timers or writes, as if its process died. */
    kill() {
      current?.kill();
    },
    /** Kills the running manager and loads a new one from the same KV. */
    async restart() {
      current?.kill();
      return start();
    },
    // A dead manager may be stuck mid-write for ever: waiting for it ends when it dies.
    settle: () => (current ? Promise.race([current.manager.idle(), current.dead]) : Promise.resolve()),
    async advance(ms: number) {
      await clock.advance(ms, f.settle);
    },
    async beat(hostId: string, apps: AppStatusReport[]) {
      await registry.handleHeartbeat(heartbeat(hostId, apps));
      await f.settle();
    },
    /** Every host reports the version its assignment names, running and healthy (agents converged). */
    async converge(over: Partial<AppStatusReport> = {}) {
      for (const id of hostIds) {
        const version = writer.current(id)?.assignment.apps.web?.version ?? stable;
        if (version) await f.beat(id, [report(version, over)]);
      }
    },
    /** The host's assignment: seq and web's version. */
    assignment(hostId: string) {
      const c = writer.current(hostId);
      return c ? { seq: c.record.seq, version: c.assignment.apps.web?.version, stable: c.assignment.apps.web?.stableVersion } : null;
    },
    async rollout(id: string): Promise<RolloutState> {
      return (await buckets.states.get(`rollout.${id}`))?.value as RolloutState;
    },
  };
  await start();
  return f;
}

export const spec = (over: Partial<RolloutSpecInput> = {}): RolloutSpecInput => ({
  app: 'web',
  version: '2.0.0',
  canary: 1,
  batch: 2,
  minHealthyTime: '10s',
  healthyDeadline: '1m',
  bake: '5s',
  createdBy: 'alice',
  ...over,
});
