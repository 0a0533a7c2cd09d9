import { ValidationError, type AppStatusReport } from '@flotilla/shared';
import { describe, expect, it } from 'vitest';
import { ACTION_RETRY_MS, LOG_KEPT, REPORT_ERROR_KEPT, countHosts, decide, findHost, nextWakeMs, startRollout } from './engine.js';
import { makeRolloutSpec } from './spec.js';
import type {
  Decision,
  HostProgress,
  PlanHost,
  RolloutAction,
  RolloutEvent,
  RolloutSpecInput,
  RolloutState,
} from './types.js';

const T0 = 1_700_000_000_000;
const TARGET = '2.0.0';
const STABLE = '1.0.0';
/** Absolute clock value `sec` seconds after the rollout started. */
const t = (sec: number) => T0 + sec * 1000;

function fleet(n: number, zones: readonly string[] = ['a', 'b', 'c']): PlanHost[] {
  return Array.from({ length: n }, (_, i) => ({
    hostId: `h${String(i + 1).padStart(2, '0')}`,
    labels: { zone: zones[i % zones.length] as string },
  }));
}

function report(over: Partial<AppStatusReport> = {}): AppStatusReport {
  return {
    app: 'web',
    desiredVersion: TARGET,
    activeVersion: TARGET,
    processState: 'running',
    pid: 4242,
    restarts: 0,
    health: 'healthy',
    healthSinceMs: 0,
    installPhase: 'done',
    installVersion: TARGET,
    error: null,
    updatedAtMs: 0,
    ...over,
  };
}
const healthy = () => report();
const unhealthy = () => report({ health: 'unhealthy' });

const roundTrip = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const EFFECTS = new Set(['assign', 'revert', 'mark-stable', 'finished']);
const effects = (actions: RolloutAction[]) => actions.filter((a) => EFFECTS.has(a.kind));
const ofKind = <K extends RolloutAction['kind']>(actions: RolloutAction[], kind: K) =>
  actions.filter((a): a is Extract<RolloutAction, { kind: K }> => a.kind === kind);

/** What must hold of every state the engine hands out. */
function checkInvariants(state: RolloutState): void {
  expect(roundTrip(state)).toStrictEqual(state);
  expect(state.counters).toStrictEqual(countHosts(state.hosts));
  expect(state.wakeAtMs).toBe(nextWakeMs(state));
  expect(state.hosts.map((h) => h.hostId)).toEqual(state.steps.flatMap((s) => s.hostIds));
}

interface StartOptions {
  spec?: Partial<RolloutSpecInput>;
  hosts?: PlanHost[];
  stable?: string | null;
  /** Acknowledge every assign and revert at once, as the I/O layer does (default true). */
  autoAck?: boolean;
}

/**
 * Drives one rollout through events. Every decision is checked three ways: the state is plain
 * JSON; deciding from the state after a JSON round trip (a controller restart) gives the very
 * same decision; and deciding the same event again changes nothing and does nothing.
 */
class Run {
  state: RolloutState;
  readonly started: Decision;
  private readonly autoAck: boolean;

  constructor(opts: StartOptions = {}) {
    const spec = makeRolloutSpec({ app: 'web', version: TARGET, createdBy: 'alice', ...opts.spec });
    this.autoAck = opts.autoAck ?? true;
    this.started = startRollout(spec, opts.hosts ?? fleet(10), opts.stable === undefined ? STABLE : opts.stable, T0, 'r-1');
    checkInvariants(this.started.state);
    this.state = this.started.state;
    if (this.autoAck) this.acks(this.started.actions, T0);
  }

  send(event: RolloutEvent): RolloutAction[] {
    const before = JSON.stringify(this.state);
    const r = decide(this.state, event);
    expect(JSON.stringify(this.state)).toBe(before);
    checkInvariants(r.state);
    if (r.state.wakeAtMs !== null) expect(r.actions.at(-1)).toEqual({ kind: 'schedule', atMs: r.state.wakeAtMs });
    expect(decide(roundTrip(this.state), event)).toStrictEqual(r);
    const again = decide(r.state, event);
    expect(again.state).toStrictEqual(r.state);
    expect(effects(again.actions)).toEqual([]);
    this.state = r.state;
    return this.autoAck ? [...r.actions, ...this.acks(r.actions, event.nowMs)] : r.actions;
  }

  private acks(actions: RolloutAction[], nowMs: number): RolloutAction[] {
    const out: RolloutAction[] = [];
    for (const a of actions) {
      if (a.kind === 'assign' || a.kind === 'revert') {
        out.push(...this.send({ kind: 'assigned', hostIds: a.hostIds, version: a.version, nowMs }));
      }
    }
    return out;
  }

  tick(sec: number) {
    return this.send({ kind: 'tick', nowMs: t(sec) });
  }
  report(hostId: string, r: AppStatusReport | null, sec: number) {
    return this.send({ kind: 'host-report', hostId, report: r, nowMs: t(sec) });
  }
  reportAll(hostIds: readonly string[], r: AppStatusReport | null, sec: number) {
    return hostIds.flatMap((id) => this.report(id, r, sec));
  }
  remove(hostId: string, sec: number) {
    return this.send({ kind: 'host-removed', hostId, nowMs: t(sec) });
  }
  op(command: 'pause' | 'resume' | 'promote' | 'abort', sec: number, opts: { noRevert?: boolean; who?: string } = {}) {
    const event: RolloutEvent = { kind: 'operator', command, actor: `operator:${opts.who ?? 'bob'}`, nowMs: t(sec) };
    if (opts.noRevert !== undefined) event.noRevert = opts.noRevert;
    return this.send(event);
  }
  alarm(sec: number, source = 'alertmanager', reason = 'HighErrorRate firing') {
    return this.send({ kind: 'alarm', source, reason, nowMs: t(sec) });
  }
  ack(hostIds: string[], version: string, sec: number) {
    return this.send({ kind: 'assigned', hostIds, version, nowMs: t(sec) });
  }

  /** Host ids of step i. */
  step(i: number): string[] {
    return this.state.steps[i]?.hostIds ?? [];
  }
  host(id: string): HostProgress {
    const host = findHost(this.state, id);
    if (host === undefined) throw new Error(`no host ${id} in the rollout`);
    return host;
  }
  get canary(): string {
    return this.step(0)[0] as string;
  }
  /** Every host of step i reports healthy at `sec`; a tick after the minimum healthy time passes them. */
  passStep(i: number, sec: number): RolloutAction[] {
    const actions = this.reportAll(this.step(i), healthy(), sec);
    return [...actions, ...this.tick(sec + this.state.spec.minHealthyTimeMs / 1000)];
  }
  logKinds(): string[] {
    return this.state.log.map((e) => e.kind);
  }
}

describe('startRollout', () => {
  it('plans the steps and assigns the canary only', () => {
    const run = new Run({ autoAck: false });
    const { state, actions } = run.started;
    expect(state.status).toBe('running');
    expect(state.steps.map((s) => s.hostIds.length)).toEqual([1, 3, 3, 3]);
    expect(state.steps.map((s) => s.targetCount)).toEqual([1, 4, 7, 10]);
    expect(state.stableVersion).toBe(STABLE);
    expect(state.failureLimit).toBe(0);
    expect(actions).toEqual([
      { kind: 'assign', app: 'web', hostIds: [run.canary], version: TARGET },
      { kind: 'schedule', atMs: T0 + ACTION_RETRY_MS },
    ]);
    expect(run.host(run.canary)).toMatchObject({ state: 'assigned', assignedAtMs: T0, assignAckedAtMs: null });
    expect(state.hosts.filter((h) => h.state === 'pending')).toHaveLength(9);
    expect(state.counters).toMatchObject({ hosts: 10, pending: 9, inProgress: 1, failed: 0 });
    expect(state.log.map((e) => [e.kind, e.actor])).toEqual([
      ['started', 'operator:alice'],
      ['step-started', 'engine'],
    ]);
  });

  it('refuses an empty selection, a bad stable version and an empty id', () => {
    const spec = makeRolloutSpec({ app: 'web', version: TARGET, createdBy: 'alice', selector: 'zone=mars' });
    expect(() => startRollout(spec, [], STABLE, T0, 'r-1')).toThrow(ValidationError);
    expect(() => startRollout(spec, [], STABLE, T0, 'r-1')).toThrow(/zone=mars/);
    expect(() => startRollout(spec, fleet(2), '../1', T0, 'r-1')).toThrow(ValidationError);
    expect(() => startRollout(spec, fleet(2), STABLE, T0, ' ')).toThrow(ValidationError);
  });
});

describe('happy path', () => {
  it('goes canary → batches → stabilising → succeeded and marks the version stable', () => {
    const run = new Run({ spec: { stableAfter: '1m' } });
    expect(run.started.actions.at(-1)).toEqual({ kind: 'schedule', atMs: T0 + ACTION_RETRY_MS });

    let actions = run.report(run.canary, healthy(), 20);
    expect(run.host(run.canary)).toMatchObject({ state: 'healthy-wait', healthySinceMs: t(20) });
    expect(actions.at(-1)).toEqual({ kind: 'schedule', atMs: t(30) });

    actions = run.tick(30);
    expect(run.host(run.canary)).toMatchObject({ state: 'passed', passedAtMs: t(30) });
    expect(run.state.steps[0]?.passedAtMs).toBe(t(30));
    expect(run.state.currentStep).toBe(1);
    expect(run.state.status).toBe('running');
    expect(ofKind(actions, 'assign')).toEqual([{ kind: 'assign', app: 'web', hostIds: run.step(1), version: TARGET }]);

    run.passStep(1, 40);
    expect(run.state.currentStep).toBe(2);
    run.passStep(2, 60);
    expect(run.state.currentStep).toBe(3);
    actions = run.passStep(3, 80);
    expect(run.state.status).toBe('stabilising');
    expect(run.state.stabiliseUntilMs).toBe(t(150));
    expect(actions.at(-1)).toEqual({ kind: 'schedule', atMs: t(150) });
    expect(effects(actions).filter((a) => a.kind !== 'assign')).toEqual([]);

    expect(effects(run.tick(149))).toEqual([]);
    actions = run.tick(150);
    expect(run.state.status).toBe('succeeded');
    expect(actions).toEqual([
      { kind: 'mark-stable', app: 'web', version: TARGET },
      { kind: 'finished', status: 'succeeded', reason: 'web@2.0.0 reached every host and is now stable' },
    ]);
    expect(run.state.finishedAtMs).toBe(t(150));
    expect(run.state.counters).toMatchObject({ hosts: 10, passed: 10, failed: 0, pending: 0, inProgress: 0 });
    expect(run.logKinds()).toEqual([
      'started',
      'step-started',
      'step-passed',
      'step-started',
      'step-passed',
      'step-started',
      'step-passed',
      'step-started',
      'step-passed',
      'stabilising',
      'succeeded',
    ]);
  });

  it('walks explicit cumulative steps', () => {
    const run = new Run({ hosts: fleet(20), spec: { steps: '1,10%,50%,100%' } });
    expect(run.state.steps.map((s) => s.targetCount)).toEqual([1, 2, 10, 20]);
    const assigned = [1, 2, 3].map((i) => ofKind(run.passStep(i - 1, 20 * i), 'assign')[0]?.hostIds.length);
    expect(assigned).toEqual([1, 8, 10]);
    run.passStep(3, 80);
    expect(run.state.status).toBe('succeeded');
  });

  it('never assigns a host twice over a whole rollout', () => {
    const run = new Run();
    const assigned: string[] = [...ofKind(run.started.actions, 'assign').flatMap((a) => a.hostIds)];
    for (let i = 0; i < 4; i++) assigned.push(...ofKind(run.passStep(i, 20 * (i + 1)), 'assign').flatMap((a) => a.hostIds));
    expect(run.state.status).toBe('succeeded');
    expect(assigned.sort()).toEqual(fleet(10).map((h) => h.hostId));
  });

  it('succeeds at once after the last step without a stabilisation window', () => {
    const run = new Run({ hosts: fleet(1) });
    const actions = run.passStep(0, 5);
    expect(run.state.status).toBe('succeeded');
    expect(ofKind(actions, 'mark-stable')).toHaveLength(1);
    expect(actions.at(-1)).toEqual(expect.objectContaining({ kind: 'finished', status: 'succeeded' }));
  });

  it('passes a host on its first healthy report when the minimum healthy time is 0', () => {
    const run = new Run({ spec: { minHealthyTime: 0 } });
    const actions = run.report(run.canary, healthy(), 3);
    expect(run.host(run.canary)).toMatchObject({ state: 'passed', passedAtMs: t(3) });
    expect(ofKind(actions, 'assign')[0]?.hostIds).toEqual(run.step(1));
  });

  it('passes a host that stays healthy across several heartbeats without changing state', () => {
    const run = new Run();
    run.report(run.canary, healthy(), 2);
    const before = run.state;
    run.report(run.canary, healthy(), 7);
    expect(run.state).toBe(before);
    run.tick(12);
    expect(run.host(run.canary).state).toBe('passed');
  });
});

describe('host health', () => {
  it('restarts the minimum healthy time when a host turns unhealthy or stops running', () => {
    const run = new Run();
    run.report(run.canary, healthy(), 20);
    run.report(run.canary, report({ processState: 'starting', health: 'unknown' }), 25);
    expect(run.host(run.canary)).toMatchObject({ state: 'assigned', healthySinceMs: null });
    run.report(run.canary, healthy(), 40);
    run.report(run.canary, report({ processState: 'backoff', restarts: 1 }), 45);
    expect(run.host(run.canary).state).toBe('assigned');
    run.report(run.canary, report({ restarts: 1 }), 47);
    run.tick(56);
    expect(run.host(run.canary).state).toBe('healthy-wait');
    run.tick(57);
    expect(run.host(run.canary)).toMatchObject({ state: 'passed', passedAtMs: t(57) });
  });

  it('does not count an older version being healthy', () => {
    const run = new Run();
    run.report(run.canary, report({ activeVersion: STABLE, installPhase: 'downloading' }), 5);
    run.tick(60);
    expect(run.host(run.canary).state).toBe('assigned');
  });

  it('fails the canary at once when it reports its health check failing, and reverts the canary host only', () => {
    const run = new Run();
    const actions = run.report(run.canary, unhealthy(), 20);
    const host = run.host(run.canary);
    expect(host.failedAtMs).toBe(t(20));
    expect(host.failureReason).toContain('health check failing on');
    expect(ofKind(actions, 'revert')).toEqual([{ kind: 'revert', app: 'web', hostIds: [run.canary], version: STABLE }]);
    expect(ofKind(actions, 'assign')).toEqual([]);
    expect(run.state.status).toBe('reverted');
    expect(host.state).toBe('reverted');
    expect(ofKind(actions, 'finished')).toEqual([
      { kind: 'finished', status: 'reverted', reason: expect.stringContaining('1 host(s) failed, more than the 0 tolerated') },
    ]);
    expect(run.state.hosts.filter((h) => h.state === 'pending')).toHaveLength(9);
    expect(run.logKinds()).toEqual(['started', 'step-started', 'host-failed', 'revert-started', 'reverted']);
  });

  it('fails a canary that never becomes healthy (health unknown, still starting) at the healthy deadline', () => {
    const run = new Run();
    run.report(run.canary, report({ processState: 'starting', health: 'unknown' }), 20);
    expect(run.host(run.canary).state).toBe('assigned');
    expect(effects(run.tick(299))).toEqual([]);
    run.tick(300);
    const host = run.host(run.canary);
    expect(host.failedAtMs).toBe(t(300));
    expect(host.failureReason).toContain('healthy deadline of 5m00s');
    expect(run.state.status).toBe('reverted');
  });

  it('fails a host that never reports by the healthy deadline', () => {
    const run = new Run({ spec: { healthyDeadline: '1m' } });
    expect(run.tick(1).at(-1)).toEqual({ kind: 'schedule', atMs: t(60) });
    run.tick(59);
    expect(run.host(run.canary).state).toBe('assigned');
    run.tick(60);
    expect(run.host(run.canary).failureReason).toContain('no status report received');
    expect(run.state.status).toBe('reverted');
  });

  it('fails a host that became healthy too late to pass by the deadline', () => {
    const run = new Run({ spec: { healthyDeadline: '1m' } });
    run.report(run.canary, healthy(), 55);
    run.tick(65);
    expect(run.host(run.canary)).toMatchObject({ failedAtMs: t(60) });
    expect(run.state.status).toBe('reverted');
  });

  it('fails a crash-looping canary at once', () => {
    const run = new Run();
    run.report(run.canary, report({ processState: 'crash-loop', restarts: 6, health: 'unknown' }), 30);
    expect(run.host(run.canary).failureReason).toMatch(/^crash-looping: 6 restart\(s\)/);
    expect(run.state.status).toBe('reverted');
  });

  it('fails a host restarted more often than allowed, and not one at the limit', () => {
    const run = new Run({ spec: { crashLoopRestarts: 2 } });
    run.report(run.canary, report({ processState: 'backoff', restarts: 2 }), 10);
    expect(run.host(run.canary).state).toBe('assigned');
    run.report(run.canary, report({ processState: 'running', restarts: 3, health: 'unknown' }), 20);
    expect(run.host(run.canary).failureReason).toContain('3 restart(s), more than 2 allowed');
    expect(run.state.status).toBe('reverted');
  });

  it('ignores restarts of the version the host ran before', () => {
    const run = new Run();
    run.report(run.canary, report({ activeVersion: STABLE, restarts: 40, processState: 'crash-loop' }), 5);
    expect(run.host(run.canary).state).toBe('assigned');
  });

  it('fails a host whose install fails, with the agent’s reason', () => {
    const run = new Run();
    run.report(
      run.canary,
      report({ activeVersion: STABLE, installPhase: 'failed', error: 'signature does not verify', health: 'healthy' }),
      8,
    );
    expect(run.host(run.canary).failureReason).toBe('install of web@2.0.0 failed: signature does not verify');
    expect(run.state.status).toBe('reverted');
  });

  it('ignores a failed install of another version', () => {
    const run = new Run();
    run.report(run.canary, report({ activeVersion: STABLE, installPhase: 'failed', installVersion: '0.9.0' }), 8);
    expect(run.host(run.canary).state).toBe('assigned');
  });

  it('fails a host whose process exited for good', () => {
    const run = new Run();
    run.report(run.canary, report({ processState: 'exited', health: 'unknown', error: 'start command not found' }), 8);
    expect(run.host(run.canary).failureReason).toContain('start command not found');
  });

  it('ignores reports of other apps and of hosts outside the rollout', () => {
    const run = new Run();
    const before = run.state;
    run.report(run.canary, report({ app: 'api', processState: 'crash-loop' }), 5);
    run.report('elsewhere', null, 6);
    run.remove('elsewhere', 7);
    run.ack(['elsewhere'], TARGET, 8);
    expect(run.state).toBe(before);
  });
});

describe('hosts lost mid-batch', () => {
  function midBatch(spec: Partial<RolloutSpecInput> = {}) {
    const run = new Run({ spec });
    run.passStep(0, 10);
    expect(run.state.currentStep).toBe(1);
    return run;
  }

  it('fails a host that goes silent and reverts every touched host', () => {
    const run = midBatch();
    const [lost] = run.step(1) as [string];
    run.report(run.step(1)[1] as string, healthy(), 25);
    const actions = run.report(lost, null, 30);
    expect(run.host(lost)).toMatchObject({ failureReason: 'host went silent (marked down)', down: true });
    const reverted = ofKind(actions, 'revert')[0];
    expect(reverted?.hostIds.sort()).toEqual([run.canary, ...run.step(1)].sort());
    expect(reverted?.version).toBe(STABLE);
    expect(run.state.status).toBe('reverted');
    expect(run.state.hosts.filter((h) => h.state === 'reverted')).toHaveLength(4);
    expect(run.state.log.find((e) => e.kind === 'host-failed')?.actor).toBe(`host:${lost}`);
  });

  it('fails a host removed mid-batch', () => {
    const run = midBatch();
    const lost = run.step(1)[2] as string;
    run.remove(lost, 30);
    expect(run.host(lost)).toMatchObject({ removed: true, failedAtMs: t(30) });
    expect(run.host(lost).failureReason).toContain('left the fleet');
    expect(run.state.status).toBe('reverted');
  });

  it('skips a host removed before its step, without counting it as a failure', () => {
    const run = midBatch();
    const gone = run.step(3)[0] as string;
    run.remove(gone, 12);
    expect(run.host(gone)).toMatchObject({ state: 'skipped', removed: true, failedAtMs: null });
    run.passStep(1, 20);
    run.passStep(2, 40);
    const actions = run.passStep(3, 60);
    expect(ofKind(actions, 'assign')).toEqual([]);
    expect(run.state.status).toBe('succeeded');
    expect(run.state.counters).toMatchObject({ passed: 9, skipped: 1, failed: 0 });
  });

  it('passes a step whose hosts all left before it started', () => {
    const run = new Run({ hosts: fleet(3), spec: { steps: '1,2,3' } });
    run.remove(run.step(1)[0] as string, 2);
    const actions = run.passStep(0, 5);
    expect(run.state.currentStep).toBe(2);
    expect(ofKind(actions, 'assign').map((a) => a.hostIds)).toEqual([run.step(2)]);
  });

  it('fails at once a host that was down when its step started, but still assigns it', () => {
    const run = new Run({ spec: { maxFailures: 1 } });
    const down = run.step(1)[0] as string;
    run.report(down, null, 3);
    expect(run.host(down)).toMatchObject({ state: 'pending', down: true });
    const actions = run.passStep(0, 5);
    expect(ofKind(actions, 'assign')[0]?.hostIds).toContain(down);
    expect(run.host(down).failureReason).toBe('host was down when its step started');
    expect(run.state.status).toBe('running');
  });

  it('does not fail a pending host that went down and came back', () => {
    const run = new Run();
    const flaky = run.step(1)[0] as string;
    run.report(flaky, null, 3);
    run.report(flaky, report({ activeVersion: STABLE }), 4);
    expect(run.host(flaky).down).toBe(false);
    run.passStep(0, 5);
    expect(run.host(flaky).state).toBe('assigned');
  });

  it('counts a passed host that crash-loops while the next batch runs', () => {
    const run = midBatch();
    expect(run.host(run.canary).state).toBe('passed');
    const actions = run.report(run.canary, report({ processState: 'crash-loop', restarts: 9 }), 30);
    expect(run.host(run.canary).failedAtMs).toBe(t(30));
    expect(ofKind(actions, 'revert')[0]?.hostIds).toContain(run.canary);
    expect(run.state.status).toBe('reverted');
  });

  it('fails a passed host unhealthy for the minimum healthy time, and forgives a shorter blip', () => {
    const run = midBatch();
    run.report(run.canary, unhealthy(), 30);
    expect(run.host(run.canary)).toMatchObject({ state: 'passed', unhealthySinceMs: t(30) });
    run.report(run.canary, healthy(), 35);
    expect(run.host(run.canary).unhealthySinceMs).toBeNull();
    run.report(run.canary, report({ processState: 'backoff', restarts: 1 }), 50);
    expect(run.tick(55).at(-1)).toEqual({ kind: 'schedule', atMs: t(60) });
    run.tick(60);
    expect(run.host(run.canary)).toMatchObject({ failedAtMs: t(60) });
    expect(run.host(run.canary).failureReason).toMatch(/^passed, then unhealthy for 10.0s/);
    expect(run.state.status).toBe('reverted');
  });
});

describe('failure budget', () => {
  it('tolerates failures up to a count and reverts past it', () => {
    const run = new Run({ spec: { maxFailures: 1 } });
    expect(run.state.failureLimit).toBe(1);
    run.passStep(0, 10);
    const [bad, ...good] = run.step(1) as [string, ...string[]];
    run.report(bad, report({ processState: 'crash-loop', restarts: 5 }), 15);
    expect(run.state.status).toBe('running');
    run.reportAll(good, healthy(), 20);
    run.tick(30);
    expect(run.state.currentStep).toBe(2);
    const actions = run.report(run.step(2)[0] as string, null, 35);
    expect(run.state.status).toBe('reverted');
    expect(ofKind(actions, 'finished')[0]?.reason).toContain('2 host(s) failed, more than the 1 tolerated');
  });

  it('succeeds with tolerated failures and still marks the version stable', () => {
    const run = new Run({ spec: { maxFailures: 1 } });
    run.passStep(0, 10);
    run.report(run.step(1)[0] as string, null, 12);
    run.passStep(1, 20);
    run.passStep(2, 40);
    const actions = run.passStep(3, 60);
    expect(run.state.status).toBe('succeeded');
    expect(ofKind(actions, 'mark-stable')).toHaveLength(1);
    expect(run.state.counters).toMatchObject({ passed: 9, failed: 1 });
  });

  it('takes a percentage of the whole selection, rounded down', () => {
    const run = new Run({ spec: { maxFailures: '20%' } });
    expect(run.state.failureLimit).toBe(2);
    run.passStep(0, 10);
    run.report(run.step(1)[0] as string, null, 12);
    run.report(run.step(1)[1] as string, null, 13);
    expect(run.state.status).toBe('running');
    run.report(run.step(1)[2] as string, null, 14);
    expect(run.state.status).toBe('reverted');
  });

  it('tolerates nothing when the percentage rounds down to zero', () => {
    const run = new Run({ hosts: fleet(9), spec: { maxFailures: '10%' } });
    expect(run.state.failureLimit).toBe(0);
    run.report(run.canary, null, 5);
    expect(run.state.status).toBe('reverted');
  });
});

describe('pause and resume', () => {
  it('starts no new step while paused; resume carries on at once', () => {
    const run = new Run();
    run.passStep(0, 10);
    run.op('pause', 25);
    expect(run.state.status).toBe('paused');
    expect(run.state.pause).toEqual({ reason: 'operator', atMs: t(25), by: 'operator:bob' });
    const whilePaused = run.passStep(1, 30);
    expect(ofKind(whilePaused, 'assign')).toEqual([]);
    expect(run.step(1).every((id) => run.host(id).state === 'passed')).toBe(true);
    expect(run.tick(500).filter((a) => a.kind !== 'schedule')).toEqual([]);
    expect(run.state.status).toBe('paused');
    const actions = run.op('resume', 600, { who: 'carol' });
    expect(run.state.status).toBe('running');
    expect(run.state.pause).toBeNull();
    expect(run.state.currentStep).toBe(2);
    expect(ofKind(actions, 'assign')[0]?.hostIds).toEqual(run.step(2));
    expect(run.state.steps[1]?.passedAtMs).toBe(t(40));
    expect(run.state.log.filter((e) => e.kind === 'paused' || e.kind === 'resumed').map((e) => e.actor)).toEqual([
      'operator:bob',
      'operator:carol',
    ]);
  });

  it('keeps counting the deadlines of assigned hosts while paused', () => {
    const run = new Run();
    run.op('pause', 1);
    expect(run.tick(2).at(-1)).toEqual({ kind: 'schedule', atMs: t(300) });
    run.tick(300);
    expect(run.host(run.canary).failedAtMs).toBe(t(300));
    expect(run.state.status).toBe('reverted');
  });

  it('refuses to pause twice and to resume what is not paused, leaving the state as it was', () => {
    const run = new Run();
    const running = run.state;
    expect(run.op('resume', 1)).toEqual([
      { kind: 'rejected', message: 'rollout r-1 is not paused (it is running): nothing to resume' },
      { kind: 'schedule', atMs: t(300) },
    ]);
    expect(run.state).toBe(running);
    run.op('pause', 2);
    const paused = run.state;
    expect(ofKind(run.op('pause', 3), 'rejected')[0]?.message).toBe('rollout r-1 is already paused');
    expect(run.state).toBe(paused);
  });

  it('refuses a promote while not paused, state unchanged', () => {
    const run = new Run();
    run.report(run.canary, healthy(), 3);
    const before = run.state;
    const actions = run.op('promote', 4);
    expect(run.state).toBe(before);
    expect(actions[0]).toEqual({
      kind: 'rejected',
      message: 'rollout r-1 is not paused (it is running): nothing to promote',
    });
  });

  it('returns the state untouched on a refusal even when a timer is due', () => {
    const run = new Run();
    const before = run.state;
    const r = decide(before, { kind: 'operator', command: 'promote', actor: 'operator:bob', nowMs: t(400) });
    expect(r.state).toBe(before);
    expect(r.actions[0]?.kind).toBe('rejected');
  });

  it('can pause while baking and while stabilising', () => {
    const run = new Run({ spec: { canaryBake: '1m', stableAfter: '1m' }, hosts: fleet(2) });
    run.passStep(0, 10);
    expect(run.state.status).toBe('baking');
    run.op('pause', 30);
    run.tick(200);
    expect(run.state.status).toBe('paused');
    run.op('resume', 210);
    expect(run.state.currentStep).toBe(1);
    run.passStep(1, 220);
    expect(run.state.status).toBe('stabilising');
    run.op('pause', 240);
    expect(effects(run.tick(400))).toEqual([]);
    const actions = run.op('resume', 401);
    expect(run.state.status).toBe('succeeded');
    expect(ofKind(actions, 'mark-stable')).toHaveLength(1);
  });
});

describe('pause after canary', () => {
  it('waits for promote after the canary and its bake', () => {
    const run = new Run({ spec: { pauseAfterCanary: true, canaryBake: '30s' } });
    run.passStep(0, 10);
    expect(run.state.status).toBe('baking');
    expect(run.state.steps[0]?.bakeUntilMs).toBe(t(50));
    run.tick(50);
    expect(run.state.status).toBe('paused');
    expect(run.state.pause).toEqual({ reason: 'canary', atMs: t(50), by: 'engine' });
    expect(run.logKinds()).toContain('canary-gate');
    expect(effects(run.tick(5000))).toEqual([]);
    const gate = run.state;
    expect(ofKind(run.op('resume', 5001), 'rejected')[0]?.message).toContain('use promote');
    expect(run.state).toBe(gate);
    const actions = run.op('promote', 5002, { who: 'dave' });
    expect(run.state).toMatchObject({ status: 'running', currentStep: 1, promotedAtMs: t(5002) });
    expect(ofKind(actions, 'assign')[0]?.hostIds).toEqual(run.step(1));
    expect(run.state.log.find((e) => e.kind === 'promoted')?.actor).toBe('operator:dave');
    run.passStep(1, 5010);
    expect(run.state).toMatchObject({ status: 'running', currentStep: 2 });
  });

  it('a promote during an operator pause after the canary also lifts the gate', () => {
    const run = new Run({ spec: { pauseAfterCanary: true, canaryBake: '1m' } });
    run.passStep(0, 10);
    run.op('pause', 20);
    run.op('promote', 30);
    expect(run.state.status).toBe('baking');
    run.tick(80);
    expect(run.state).toMatchObject({ status: 'running', currentStep: 1 });
  });

  it('a resume during an operator pause before the canary passed leaves the gate in place', () => {
    const run = new Run({ spec: { pauseAfterCanary: true } });
    run.op('pause', 1);
    run.op('promote', 2);
    expect(run.state.promotedAtMs).toBeNull();
    run.passStep(0, 10);
    expect(run.state.pause?.reason).toBe('canary');
  });

  it('has no gate when the canary is the only step', () => {
    const run = new Run({ hosts: fleet(1), spec: { pauseAfterCanary: true } });
    run.passStep(0, 10);
    expect(run.state.status).toBe('succeeded');
  });
});

describe('bake', () => {
  it('waits the canary bake, then the batch bake, from when each step passed', () => {
    const run = new Run({ spec: { canaryBake: '1m', bake: '30s' } });
    let actions = run.passStep(0, 10);
    expect(run.state.status).toBe('baking');
    expect(actions.at(-1)).toEqual({ kind: 'schedule', atMs: t(80) });
    expect(ofKind(run.tick(79), 'assign')).toEqual([]);
    actions = run.tick(80);
    expect(ofKind(actions, 'assign')[0]?.hostIds).toEqual(run.step(1));
    run.passStep(1, 90);
    expect(run.state.steps[1]?.bakeUntilMs).toBe(t(130));
    expect(ofKind(run.tick(129), 'assign')).toEqual([]);
    expect(ofKind(run.tick(130), 'assign')[0]?.hostIds).toEqual(run.step(2));
  });

  it('still watches passed hosts while baking', () => {
    const run = new Run({ spec: { canaryBake: '1m' } });
    run.passStep(0, 10);
    run.report(run.canary, null, 30);
    expect(run.state.status).toBe('reverted');
  });
});

describe('abort', () => {
  it('reverts every touched host', () => {
    const run = new Run();
    run.passStep(0, 10);
    const actions = run.op('abort', 25, { who: 'carol' });
    expect(ofKind(actions, 'revert')[0]?.hostIds.sort()).toEqual([run.canary, ...run.step(1)].sort());
    expect(run.state).toMatchObject({ status: 'reverted', endReason: 'aborted by carol', endedBy: 'operator:carol' });
    expect(ofKind(actions, 'finished')).toEqual([{ kind: 'finished', status: 'reverted', reason: 'aborted by carol' }]);
  });

  it('with noRevert leaves hosts as they are', () => {
    const run = new Run();
    run.passStep(0, 10);
    const actions = run.op('abort', 25, { noRevert: true });
    expect(ofKind(actions, 'revert')).toEqual([]);
    expect(run.state.status).toBe('aborted');
    expect(run.host(run.canary).state).toBe('passed');
    expect(run.host(run.step(1)[0] as string).state).toBe('assigned');
    expect(ofKind(actions, 'finished')[0]).toEqual({
      kind: 'finished',
      status: 'aborted',
      reason: 'aborted by bob; hosts left as they are',
    });
  });

  it('reverts even when auto-revert is off: an abort is the operator’s own call', () => {
    const run = new Run({ spec: { autoRevert: false } });
    const actions = run.op('abort', 5);
    expect(ofKind(actions, 'revert')).toHaveLength(1);
  });

  it('works while paused', () => {
    const run = new Run();
    run.op('pause', 1);
    run.op('abort', 2);
    expect(run.state.status).toBe('reverted');
    expect(run.state.pause).toBeNull();
  });

  it('during a revert changes nothing', () => {
    const run = new Run({ autoAck: false });
    run.ack([run.canary], TARGET, 0);
    run.report(run.canary, null, 5);
    expect(run.state.status).toBe('reverting');
    const reverting = run.state;
    for (const noRevert of [false, true]) {
      const actions = run.op('abort', 6, { noRevert });
      expect(actions[0]).toEqual({
        kind: 'rejected',
        message: 'rollout r-1 is already reverting to 1.0.0; abort changes nothing',
      });
      expect(run.state).toBe(reverting);
    }
    expect(ofKind(run.op('pause', 7), 'rejected')).toHaveLength(1);
    expect(run.alarm(8).filter((a) => a.kind !== 'schedule')).toEqual([]);
    run.remove(run.canary, 8);
    run.report(run.canary, healthy(), 8);
    expect(run.state).toBe(reverting);
    run.ack([run.canary], STABLE, 9);
    expect(run.state.status).toBe('reverted');
  });
});

describe('alarms', () => {
  it('revert the rollout mid-batch, naming the source', () => {
    const run = new Run();
    run.passStep(0, 10);
    const actions = run.alarm(25, 'alertmanager', 'HighErrorRate firing');
    expect(ofKind(actions, 'revert')[0]?.hostIds).toHaveLength(4);
    expect(run.state).toMatchObject({
      status: 'reverted',
      endReason: 'alarm from alertmanager: HighErrorRate firing',
      endedBy: 'alarm:alertmanager',
    });
    expect(run.state.log.filter((e) => e.kind === 'alarm').map((e) => e.actor)).toEqual(['alarm:alertmanager']);
  });

  it('revert during stabilisation', () => {
    const run = new Run({ hosts: fleet(4), spec: { stableAfter: '10m' } });
    for (let i = 0; i < run.state.steps.length; i++) run.passStep(i, 20 * (i + 1));
    expect(run.state.status).toBe('stabilising');
    const actions = run.alarm(200, 'health');
    expect(ofKind(actions, 'revert')[0]?.hostIds).toHaveLength(4);
    expect(ofKind(actions, 'mark-stable')).toEqual([]);
    expect(run.state.status).toBe('reverted');
  });

  it('revert while baking and while paused', () => {
    const baking = new Run({ spec: { canaryBake: '1m' } });
    baking.passStep(0, 10);
    baking.alarm(30);
    expect(baking.state.status).toBe('reverted');
    const paused = new Run();
    paused.op('pause', 1);
    paused.alarm(2);
    expect(paused.state.status).toBe('reverted');
  });

  it('stop without revert when auto-revert is off', () => {
    const run = new Run({ spec: { autoRevert: false } });
    const actions = run.alarm(5);
    expect(ofKind(actions, 'revert')).toEqual([]);
    expect(run.state.status).toBe('failed');
    expect(run.state.endReason).toBe('alarm from alertmanager: HighErrorRate firing; hosts left as they are');
  });

  it('change nothing once the rollout has finished', () => {
    const run = new Run({ hosts: fleet(1) });
    run.passStep(0, 5);
    const done = run.state;
    expect(run.alarm(100)).toEqual([]);
    expect(run.tick(200)).toEqual([]);
    expect(run.report(run.canary, null, 300)).toEqual([]);
    expect(run.state).toBe(done);
    expect(run.op('pause', 400)).toEqual([
      { kind: 'rejected', message: 'rollout r-1 already ended succeeded; it cannot pause' },
    ]);
  });
});

describe('without a revert', () => {
  it('a first release that fails ends failed, says why, and sends no revert', () => {
    const run = new Run({ stable: null });
    expect(run.state.log[1]?.message).toContain('no stable version yet');
    const actions = run.report(run.canary, report({ processState: 'crash-loop', restarts: 7 }), 20);
    expect(ofKind(actions, 'revert')).toEqual([]);
    expect(run.state.status).toBe('failed');
    expect(run.state.endReason).toContain('web has no stable version yet (first release)');
    expect(ofKind(actions, 'finished')[0]?.reason).toContain('hosts stay where they are');
    expect(run.host(run.canary).state).toBe('failed');
  });

  it('a first release aborted ends aborted without a revert', () => {
    const run = new Run({ stable: null });
    const actions = run.op('abort', 3);
    expect(ofKind(actions, 'revert')).toEqual([]);
    expect(run.state.status).toBe('aborted');
  });

  it('auto-revert off: a failure ends failed and hosts stay as they are', () => {
    const run = new Run({ spec: { autoRevert: false } });
    run.passStep(0, 10);
    const actions = run.report(run.step(1)[0] as string, null, 15);
    expect(ofKind(actions, 'revert')).toEqual([]);
    expect(run.state.status).toBe('failed');
    expect(run.host(run.canary).state).toBe('passed');
  });
});

describe('acknowledgements and retries', () => {
  it('sends an unacknowledged assignment again, and stops once acknowledged', () => {
    const run = new Run({ autoAck: false });
    expect(run.tick(1).filter((a) => a.kind !== 'schedule')).toEqual([]);
    const retry = run.tick(5);
    expect(ofKind(retry, 'assign')).toEqual([{ kind: 'assign', app: 'web', hostIds: [run.canary], version: TARGET }]);
    expect(run.host(run.canary)).toMatchObject({ assignedAtMs: T0, assignSentAtMs: t(5) });
    expect(run.logKinds()).toContain('assign-retried');
    run.ack([run.canary], TARGET, 6);
    expect(run.host(run.canary).assignAckedAtMs).toBe(t(6));
    expect(ofKind(run.tick(20), 'assign')).toEqual([]);
  });

  it('takes a report of the target as the acknowledgement', () => {
    const run = new Run({ autoAck: false });
    run.report(run.canary, report({ activeVersion: STABLE, installPhase: 'downloading' }), 1);
    expect(run.host(run.canary).assignAckedAtMs).toBe(t(1));
    expect(ofKind(run.tick(30), 'assign')).toEqual([]);
  });

  it('ignores an acknowledgement of another version', () => {
    const run = new Run({ autoAck: false });
    const before = run.state;
    run.ack([run.canary], STABLE, 1);
    expect(run.state).toBe(before);
  });

  it('sends an unacknowledged revert again and finishes on its acknowledgement', () => {
    const run = new Run({ autoAck: false });
    run.ack([run.canary], TARGET, 0);
    run.alarm(10);
    expect(run.state.status).toBe('reverting');
    expect(run.tick(11).at(-1)).toEqual({ kind: 'schedule', atMs: t(15) });
    const retry = run.tick(15);
    expect(ofKind(retry, 'revert')).toEqual([{ kind: 'revert', app: 'web', hostIds: [run.canary], version: STABLE }]);
    run.ack([run.canary], TARGET, 16);
    expect(run.state.status).toBe('reverting');
    const done = run.ack([run.canary], STABLE, 17);
    expect(run.state.status).toBe('reverted');
    expect(run.host(run.canary)).toMatchObject({ state: 'reverted', revertedAtMs: t(17) });
    expect(done).toEqual([
      { kind: 'finished', status: 'reverted', reason: 'alarm from alertmanager: HighErrorRate firing' },
    ]);
  });

  it('stays reverting until every touched host is acknowledged', () => {
    const run = new Run({ autoAck: false });
    run.ack([run.canary], TARGET, 0);
    run.passStep(0, 5);
    run.ack(run.step(1), TARGET, 16);
    run.alarm(20);
    run.ack([run.canary], STABLE, 21);
    expect(run.state.status).toBe('reverting');
    expect(run.state.counters).toMatchObject({ reverting: 3, reverted: 1 });
    run.ack(run.step(1), STABLE, 22);
    expect(run.state.status).toBe('reverted');
  });
});

describe('restart safety', () => {
  /** A controller killed after persisting `state`, started again at `sec`. */
  const restart = (state: RolloutState, sec: number) => decide(roundTrip(state), { kind: 'tick', nowMs: t(sec) });

  it('credits a pass and a bake that ran while the controller was down', () => {
    const run = new Run({ spec: { canaryBake: '1m' } });
    run.report(run.canary, healthy(), 20);
    const persisted = JSON.stringify(run.state);
    // Down from 21s to 60s: the canary passed at 30s, its bake ends at 90s.
    let r = restart(JSON.parse(persisted) as RolloutState, 60);
    expect(findHost(r.state, run.canary)?.passedAtMs).toBe(t(30));
    expect(r.state.steps[0]?.bakeUntilMs).toBe(t(90));
    expect(r.state.status).toBe('baking');
    expect(r.actions).toEqual([{ kind: 'schedule', atMs: t(90) }]);
    // Down until after the bake: the next step starts at once.
    r = restart(JSON.parse(persisted) as RolloutState, 120);
    expect(r.state.currentStep).toBe(1);
    expect(r.actions[0]).toEqual({ kind: 'assign', app: 'web', hostIds: r.state.steps[1]?.hostIds, version: TARGET });
  });

  it('fails a host whose deadline ran out while the controller was down', () => {
    const run = new Run();
    const r = restart(run.state, 1000);
    expect(findHost(r.state, run.canary)?.failedAtMs).toBe(t(300));
    expect(r.state.status).toBe('reverting');
  });

  it('does not redo a started step or reassign its hosts', () => {
    const run = new Run();
    run.passStep(0, 10);
    const r = restart(run.state, 25);
    expect(r.actions.filter((a) => a.kind !== 'schedule')).toEqual([]);
    expect(r.state).toStrictEqual(roundTrip(run.state));
  });

  it('sends again an assignment persisted but perhaps never written', () => {
    const run = new Run({ autoAck: false });
    let r = restart(run.started.state, 2);
    expect(r.actions).toEqual([{ kind: 'schedule', atMs: T0 + ACTION_RETRY_MS }]);
    r = restart(run.started.state, 9);
    expect(ofKind(r.actions, 'assign')[0]?.hostIds).toEqual([run.canary]);
  });

  it('gives the same decisions with and without a JSON round trip over a whole eventful scenario', () => {
    const script = (run: Run) => {
      run.passStep(0, 10);
      run.op('pause', 12);
      run.passStep(1, 20);
      run.op('resume', 40);
      run.report(run.step(2)[0] as string, null, 45);
    };
    const live = new Run({ spec: { maxFailures: 1, stableAfter: '1m' } });
    script(live);
    const persisted = new Run({ spec: { maxFailures: 1, stableAfter: '1m' } });
    persisted.state = roundTrip(persisted.state);
    script(persisted);
    expect(roundTrip(persisted.state)).toStrictEqual(roundTrip(live.state));
  });

  it('never moves the clock back for a late event', () => {
    const run = new Run();
    run.report(run.canary, healthy(), 20);
    const r = decide(run.state, { kind: 'tick', nowMs: t(5) });
    expect(r.state).toBe(run.state);
    expect(findHost(r.state, run.canary)?.healthySinceMs).toBe(t(20));
  });
});

describe('nextWakeMs', () => {
  it('is the earliest timer, and null once finished', () => {
    const run = new Run({ spec: { healthyDeadline: '1m' } });
    expect(nextWakeMs(run.state)).toBe(t(60));
    run.report(run.canary, healthy(), 20);
    expect(nextWakeMs(run.state)).toBe(t(30));
    run.tick(30);
    expect(nextWakeMs(run.state)).toBe(t(90));
    run.alarm(40);
    expect(nextWakeMs(run.state)).toBeNull();
  });

  it('is null while paused with nothing left to time', () => {
    const run = new Run({ hosts: fleet(2) });
    run.passStep(0, 10);
    run.passStep(1, 30);
    expect(run.state.status).toBe('succeeded');
    const paused = new Run({ hosts: fleet(2), spec: { pauseAfterCanary: true } });
    paused.passStep(0, 10);
    expect(paused.state.status).toBe('paused');
    expect(nextWakeMs(paused.state)).toBeNull();
  });
});

describe('transitions', () => {
  // Each status's ways out, reached from a fresh rollout of 4 hosts (steps of 1, 1, 1, 1).
  const fresh = (spec: Partial<RolloutSpecInput> = {}, stable: string | null = STABLE) =>
    new Run({ hosts: fleet(4), spec: { batch: 1, ...spec }, stable });
  const toBaking = (spec: Partial<RolloutSpecInput> = {}) => {
    const run = fresh({ canaryBake: '1m', ...spec });
    run.passStep(0, 10);
    expect(run.state.status).toBe('baking');
    return run;
  };
  const toPaused = () => {
    const run = fresh();
    run.op('pause', 1);
    return run;
  };
  const toStabilising = (spec: Partial<RolloutSpecInput> = {}) => {
    const run = fresh({ stableAfter: '5m', ...spec });
    for (let i = 0; i < 4; i++) run.passStep(i, 20 * (i + 1));
    expect(run.state.status).toBe('stabilising');
    return run;
  };
  const toReverting = () => {
    const run = new Run({ hosts: fleet(4), spec: { batch: 1 }, autoAck: false });
    run.ack([run.canary], TARGET, 0);
    run.alarm(5);
    expect(run.state.status).toBe('reverting');
    return run;
  };

  it.each<[string, () => RolloutState['status']]>([
    ['running → baking (step passed)', () => (toBaking(), 'baking')],
    [
      'running → running (next step, no bake)',
      () => {
        const run = fresh();
        run.passStep(0, 10);
        return run.state.currentStep === 1 ? run.state.status : 'failed';
      },
    ],
    ['running → stabilising (last step passed)', () => toStabilising().state.status],
    ['running → paused (pause)', () => toPaused().state.status],
    ['running → reverting → reverted (host failure)', () => ((r) => (r.report(r.canary, null, 2), r.state.status))(fresh())],
    ['running → reverted (alarm)', () => ((r) => (r.alarm(2), r.state.status))(fresh())],
    ['running → reverted (abort)', () => ((r) => (r.op('abort', 2), r.state.status))(fresh())],
    ['running → aborted (abort --no-revert)', () => ((r) => (r.op('abort', 2, { noRevert: true }), r.state.status))(fresh())],
    ['running → failed (no stable version)', () => ((r) => (r.report(r.canary, null, 2), r.state.status))(fresh({}, null))],
    ['running → failed (auto-revert off)', () => ((r) => (r.report(r.canary, null, 2), r.state.status))(fresh({ autoRevert: false }))],
    ['baking → running (bake over)', () => ((r) => (r.tick(80), r.state.status))(toBaking())],
    ['baking → paused (canary gate)', () => ((r) => (r.tick(80), r.state.pause?.reason === 'canary' ? r.state.status : 'failed'))(toBaking({ pauseAfterCanary: true }))],
    ['baking → paused (pause)', () => ((r) => (r.op('pause', 30), r.state.status))(toBaking())],
    ['baking → reverted (passed host fails)', () => ((r) => (r.report(r.canary, null, 30), r.state.status))(toBaking())],
    ['baking → reverted (alarm)', () => ((r) => (r.alarm(30), r.state.status))(toBaking())],
    ['baking → aborted (abort --no-revert)', () => ((r) => (r.op('abort', 30, { noRevert: true }), r.state.status))(toBaking())],
    ['paused → running (resume)', () => ((r) => (r.op('resume', 2), r.state.status))(toPaused())],
    ['paused → running (promote)', () => ((r) => (r.op('promote', 2), r.state.status))(toPaused())],
    ['paused → reverted (host failure)', () => ((r) => (r.report(r.canary, null, 2), r.state.status))(toPaused())],
    ['paused → reverted (alarm)', () => ((r) => (r.alarm(2), r.state.status))(toPaused())],
    ['paused → reverted (abort)', () => ((r) => (r.op('abort', 2), r.state.status))(toPaused())],
    ['paused → aborted (abort --no-revert)', () => ((r) => (r.op('abort', 2, { noRevert: true }), r.state.status))(toPaused())],
    ['stabilising → succeeded (window over)', () => ((r) => (r.tick(1000), r.state.status))(toStabilising())],
    ['stabilising → paused (pause)', () => ((r) => (r.op('pause', 100), r.state.status))(toStabilising())],
    ['stabilising → reverted (alarm)', () => ((r) => (r.alarm(100), r.state.status))(toStabilising())],
    ['stabilising → reverted (host failure)', () => ((r) => (r.report(r.canary, null, 100), r.state.status))(toStabilising())],
    ['stabilising → aborted (abort --no-revert)', () => ((r) => (r.op('abort', 100, { noRevert: true }), r.state.status))(toStabilising())],
    ['reverting → reverting (partial acknowledgement)', () => toReverting().state.status],
    ['reverting → reverted (acknowledged)', () => ((r) => (r.ack([r.canary], STABLE, 6), r.state.status))(toReverting())],
  ])('%s', (name, reach) => {
    const expected = /→ (\S+)(?: \([^)]*\))?$/.exec(name)?.[1];
    expect(reach()).toBe(expected);
  });

  it.each(['succeeded', 'reverted', 'failed', 'aborted'] as const)('%s refuses every operator command', (status) => {
    const run = fresh(status === 'failed' ? { autoRevert: false } : {});
    if (status === 'succeeded') for (let i = 0; i < 4; i++) run.passStep(i, 20 * (i + 1));
    if (status === 'reverted' || status === 'failed') run.alarm(2);
    if (status === 'aborted') run.op('abort', 2, { noRevert: true });
    expect(run.state.status).toBe(status);
    const end = run.state;
    for (const command of ['pause', 'resume', 'promote', 'abort'] as const) {
      expect(run.op(command, 500)[0]).toEqual({
        kind: 'rejected',
        message: `rollout r-1 already ended ${status}; it cannot ${command}`,
      });
    }
    expect(run.state).toBe(end);
  });
});

describe('large rollouts', () => {
  /** The engine alone, as the I/O layer drives it: acknowledge each assign, hosts report once. */
  function stepThrough(state: RolloutState, nowMs: number, report: (hostId: string) => AppStatusReport | null) {
    let s = state;
    let now = nowMs;
    let pending = startActions(s);
    // Bounded: every round starts a step or ends the rollout.
    for (let round = 0; round < s.steps.length + 2 && pending.length > 0; round++) {
      const assign = pending.shift() as Extract<RolloutAction, { kind: 'assign' }>;
      let r = decide(s, { kind: 'assigned', hostIds: assign.hostIds, version: assign.version, nowMs: ++now });
      s = r.state;
      pending.push(...ofKind(r.actions, 'assign'));
      for (const hostId of assign.hostIds) {
        now += 1;
        const rep = report(hostId);
        r = decide(s, { kind: 'host-report', hostId, report: rep, nowMs: now });
        s = r.state;
        pending.push(...ofKind(r.actions, 'assign'));
        // A heartbeat that repeats itself hands back the very same state.
        expect(decide(s, { kind: 'host-report', hostId, report: rep, nowMs: now }).state).toBe(s);
      }
      if (pending.length === 0 && (s.status === 'running' || s.status === 'baking' || s.status === 'stabilising')) {
        now = Math.max(now, s.wakeAtMs ?? now);
        r = decide(s, { kind: 'tick', nowMs: now });
        s = r.state;
        pending = ofKind(r.actions, 'assign');
      }
    }
    return s;
  }
  let first: Decision;
  const startActions = (s: RolloutState) => (s === first.state ? ofKind(first.actions, 'assign') : []);

  it('steps 25,000 hosts through with the engine alone, keeping counts and wake-ups exact', () => {
    const hosts = Array.from({ length: 25_000 }, (_, i) => ({ hostId: `sim-${String(i).padStart(5, '0')}`, labels: { zone: 'abc'[i % 3] as string } }));
    const spec = makeRolloutSpec({ app: 'web', version: TARGET, batch: '10%', minHealthyTime: '0s', bake: '0s', maxFailures: '1%', createdBy: 'bench' });
    first = startRollout(spec, hosts, STABLE, T0, 'web-1');
    expect(first.state.steps.map((st) => st.hostIds.length)).toEqual([1, 2500, 2500, 2500, 2500, 2500, 2500, 2500, 2500, 2500, 2499]);
    const startJson = JSON.stringify(first.state.counters);
    // Every 125th host fails its install: 200 failures, tolerated (under 1% of 25,000).
    const failing = new Set(hosts.filter((_, i) => i % 125 === 5).map((h) => h.hostId));
    const end = stepThrough(first.state, T0, (id) => (failing.has(id) ? report({ installPhase: 'failed', error: 'disk full' }) : healthy()));

    expect(end.status).toBe('succeeded');
    expect(end.counters).toEqual({ ...countHosts(end.hosts), hosts: 25_000 });
    expect(end.counters.failed).toBe(failing.size);
    expect(end.counters.passed).toBe(25_000 - failing.size);
    expect(end.wakeAtMs).toBe(nextWakeMs(end));
    expect(end.log.length).toBeLessThanOrEqual(LOG_KEPT);
    // started, 11 × (step started, step passed), a failure each, stabilising, succeeded.
    expect(end.log.length + end.logDropped).toBe(1 + 22 + failing.size + 2);
    // The start state is untouched by everything decided after it.
    expect(JSON.stringify(first.state.counters)).toBe(startJson);
    expect(first.state.hosts.filter((h) => h.state === 'assigned')).toHaveLength(1);
  });

  it('keeps wake-ups exact mid-step with thousands of hosts waiting on timers', () => {
    const hosts = fleet(3000);
    const spec = makeRolloutSpec({ app: 'web', version: TARGET, batch: '50%', minHealthyTime: '30s', healthyDeadline: '5m', createdBy: 'alice' });
    first = startRollout(spec, hosts, STABLE, T0, 'r-1');
    let s = decide(first.state, { kind: 'assigned', hostIds: first.state.steps[0]?.hostIds ?? [], version: TARGET, nowMs: t(1) }).state;
    s = decide(s, { kind: 'host-report', hostId: s.steps[0]?.hostIds[0] as string, report: healthy(), nowMs: t(2) }).state;
    s = decide(s, { kind: 'tick', nowMs: t(32) }).state;
    expect(s.currentStep).toBe(1);
    // Step 2 (1500 hosts) is assigned at 32 s and never acknowledged: retries every 5 s.
    expect(s.wakeAtMs).toBe(t(32) + ACTION_RETRY_MS);
    const step = s.steps[1]?.hostIds ?? [];
    // Half report healthy at different times, so the hosts' wake-ups differ.
    for (let i = 0; i < step.length; i += 2) {
      s = decide(s, { kind: 'host-report', hostId: step[i] as string, report: healthy(), nowMs: t(33) + i }).state;
      if (i % 300 === 0) expect(s.wakeAtMs).toBe(nextWakeMs(s));
    }
    const retried = decide(s, { kind: 'tick', nowMs: t(38) });
    expect(ofKind(retried.actions, 'assign')[0]?.hostIds).toEqual(step.filter((_, i) => i % 2 === 1));
    expect(retried.state.wakeAtMs).toBe(nextWakeMs(retried.state));
    // The first healthy host of step 2 passes 30 s after its report (the next, 2 ms later, not yet).
    const passed = decide(retried.state, { kind: 'tick', nowMs: t(63) + 1 }).state;
    expect(passed.counters.passed).toBe(2);
    expect(passed.wakeAtMs).toBe(nextWakeMs(passed));
  });

  it('decides the same from an older state as from the latest', () => {
    const run = new Run({ hosts: fleet(40), spec: { batch: '25%' } });
    run.passStep(0, 10);
    const older = run.state;
    run.reportAll(run.step(1), healthy(), 11);
    run.tick(12);
    const latest = run.state;
    // Deciding from the older state again (as after a lost write) gives what a fresh load gives.
    const event: RolloutEvent = { kind: 'tick', nowMs: t(40) };
    expect(decide(older, event)).toStrictEqual(decide(roundTrip(older), event));
    expect(decide(latest, event)).toStrictEqual(decide(roundTrip(latest), event));
  });

  it('decides the same after a refused command that came with due timers', () => {
    const run = new Run({ hosts: fleet(10), spec: { minHealthyTime: '10s' } });
    run.report(run.canary, healthy(), 1);
    const before = run.state;
    // The pass is due at 11 s; the refusal hands back the state as it was.
    const refused = decide(before, { kind: 'operator', command: 'resume', actor: 'operator:bob', nowMs: t(20) });
    expect(refused.state).toBe(before);
    expect(decide(before, { kind: 'tick', nowMs: t(20) })).toStrictEqual(decide(roundTrip(before), { kind: 'tick', nowMs: t(20) }));
  });

  it('keeps the most recent log entries and counts the ones dropped', () => {
    const run = new Run({ hosts: fleet(LOG_KEPT + 100), spec: { steps: '1,100%', maxFailures: '100%', minHealthyTime: '0s' } });
    run.report(run.canary, healthy(), 1);
    expect(run.state.currentStep).toBe(1);
    const failed = report({ installPhase: 'failed', error: 'no space left on device' });
    for (const id of run.step(1)) {
      const r = decide(run.state, { kind: 'host-report', hostId: id, report: failed, nowMs: t(2) });
      run.state = r.state;
    }
    const s = run.state;
    expect(s.status).toBe('succeeded');
    expect(s.log).toHaveLength(LOG_KEPT);
    // started, canary started and passed, step 2 started, its failures, passed, stabilising, succeeded.
    expect(s.logDropped).toBe(4 + run.step(1).length + 3 - LOG_KEPT);
    expect(s.log.at(-1)?.kind).toBe('succeeded');
    checkInvariants(s);
  });

  it('keeps only the start of a long error a host reports', () => {
    const run = new Run();
    run.report(run.canary, report({ processState: 'exited', error: 'x'.repeat(5000) }), 1);
    const h = run.host(run.canary);
    expect(h.lastReport?.error).toHaveLength(REPORT_ERROR_KEPT);
    expect(h.failureReason?.length).toBeLessThan(REPORT_ERROR_KEPT + 100);
  });
});

describe('traffic steps', () => {
  const weighted = (weight: number) => report({ trafficWeight: weight });

  it('walks the canary through each weight, gated and baked, then the batches with plain assignments', () => {
    const run = new Run({ hosts: fleet(4), spec: { traffic: '10%,50%', canaryBake: '20s', batch: '3' } });
    expect(run.state.spec.traffic).toEqual([10, 50, 100]);
    expect(ofKind(run.started.actions, 'assign')).toEqual([
      { kind: 'assign', app: 'web', hostIds: [run.canary], version: TARGET, traffic: { weight: 10 } },
    ]);
    // A report still at the old weight does not count: the gate is judged once the balancer moved.
    run.report(run.canary, weighted(0), 5);
    expect(run.host(run.canary).state).toBe('assigned');
    run.report(run.canary, weighted(10), 6);
    run.tick(16);
    expect(run.state.status).toBe('baking');
    expect(run.state.steps[0]?.bakeUntilMs).toBe(t(36));

    let actions = run.tick(36);
    expect(run.state).toMatchObject({ status: 'running', currentStep: 0, trafficStep: 1 });
    expect(ofKind(actions, 'assign')).toEqual([{ kind: 'assign', app: 'web', hostIds: [run.canary], version: TARGET, traffic: { weight: 50 } }]);
    expect(run.host(run.canary)).toMatchObject({ state: 'assigned', passedAtMs: null, healthySinceMs: null });

    run.report(run.canary, weighted(50), 40);
    run.tick(50);
    actions = run.tick(70);
    expect(ofKind(actions, 'assign')).toEqual([
      { kind: 'assign', app: 'web', hostIds: [run.canary], version: TARGET, traffic: { weight: 100, retire: true } },
    ]);
    run.report(run.canary, weighted(100), 75);
    run.tick(85);
    actions = run.tick(105);
    // The last weight passed: the batches go on as before.
    expect(run.state).toMatchObject({ status: 'running', currentStep: 1 });
    expect(ofKind(actions, 'assign')).toEqual([{ kind: 'assign', app: 'web', hostIds: run.step(1), version: TARGET }]);
    expect(run.state.log.filter((e) => e.kind === 'step-passed').map((e) => e.message)).toEqual([
      'canary passed at 10% of the traffic',
      'canary passed at 50% of the traffic',
      'canary passed at 100% of the traffic',
    ]);
  });

  it('pauses and promotes at a traffic step, and reverts the canary on an alarm', () => {
    const run = new Run({ hosts: fleet(3), spec: { traffic: '5%,25%' } });
    run.report(run.canary, weighted(5), 5);
    run.op('pause', 6);
    run.tick(20);
    expect(run.state).toMatchObject({ status: 'paused', trafficStep: 0 });
    run.op('resume', 30);
    run.tick(31);
    expect(run.state).toMatchObject({ status: 'running', trafficStep: 1 });
    const actions = run.alarm(40);
    expect(ofKind(actions, 'revert')).toEqual([{ kind: 'revert', app: 'web', hostIds: [run.canary], version: STABLE }]);
  });

  it('refuses weights that do not grow or are not whole percents', () => {
    expect(() => makeRolloutSpec({ app: 'web', version: TARGET, createdBy: 'a', traffic: '50%,10%' })).toThrow(/must grow/);
    expect(() => makeRolloutSpec({ app: 'web', version: TARGET, createdBy: 'a', traffic: '0%' })).toThrow(/whole percent/);
    expect(() => makeRolloutSpec({ app: 'web', version: TARGET, createdBy: 'a', traffic: '12.5%' })).toThrow(/whole percent/);
    expect(() => makeRolloutSpec({ app: 'web', version: TARGET, createdBy: 'a', traffic: '' })).toThrow(/empty/);
    expect(makeRolloutSpec({ app: 'web', version: TARGET, createdBy: 'a', traffic: '5%,25%,50%,100%' }).traffic).toEqual([5, 25, 50, 100]);
  });
});
