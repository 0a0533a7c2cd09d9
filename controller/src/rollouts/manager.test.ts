import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '@flotilla/shared';
import { statusFor } from '../grpc/errors.js';
import type { RolloutState } from '../engine/index.js';
import { T0, fixture, report, spec } from '../testing/rollouts.js';
import { rolloutId } from './records.js';

/** The id of the app's first rollout, started at T0. */
const WEB_1 = rolloutId('web', 1, T0);

describe('starting a rollout', () => {
  it('writes the state, claims the app and assigns the canary, in that order', async () => {
    const f = await fixture();
    const { state } = await f.manager.start(spec());
    expect(state?.id).toBe(WEB_1);
    expect(f.calls).toHaveLength(1);
    const [canary] = f.calls;
    expect(canary?.version).toBe('2.0.0');
    // The state was in KV, with the canary assigned, before the assignment was written.
    expect(canary?.persisted.id).toBe(WEB_1);
    expect(canary?.persisted.steps[0]?.startedAtMs).toBe(T0);
    for (const h of canary?.hostIds ?? []) {
      expect(canary?.persisted.hosts.find((x) => x.hostId === h)?.state).toBe('assigned');
    }
    // The agent keeps the stable version on disk: it travels in the assignment.
    expect(f.assignment(canary?.hostIds[0] as string)).toEqual({ seq: 1, version: '2.0.0', stable: '1.0.0' });
    expect((await f.buckets.active.get('active.web'))?.value.rolloutId).toBe(WEB_1);
    // The acknowledgement was written too.
    expect((await f.rollout(WEB_1)).hosts.find((h) => h.hostId === canary?.hostIds[0])?.assignAckedAtMs).toBe(T0);
  });

  it('plans without changing anything on a dry run', async () => {
    const f = await fixture();
    const writes = f.kv.writes;
    const { state, plan } = await f.manager.start(spec(), { dryRun: true });
    expect(state).toBeNull();
    expect(plan).toMatch(/^rollout of web@2\.0\.0: 5 hosts \(all hosts\) in 3 steps/);
    expect(f.kv.writes).toBe(writes);
    expect(f.calls).toEqual([]);
  });

  it('refuses a second rollout of the app, naming the running one', async () => {
    const f = await fixture();
    await f.manager.start(spec());
    const second = await f.manager.start(spec({ version: '3.0.0' })).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(ConflictError);
    expect((second as ConflictError).message).toMatch(/rollout web-1-[a-z]{7} of web is still running/);
    expect(statusFor(second as ConflictError)).toBe(9); // FAILED_PRECONDITION
    expect(f.calls).toHaveLength(1);
  });

  it('refuses through the KV claim too, when another controller process holds it', async () => {
    const f = await fixture();
    await f.manager.start(spec());
    f.calls.length = 0;
    // A fresh manager over the same KV that is not driving web-1 (its claim is live in KV).
    const other = await f.restart();
    await expect(other.start(spec({ version: '3.0.0' }))).rejects.toThrow(/web-1/);
  });

  it('says which app or version is unknown', async () => {
    const f = await fixture();
    await expect(f.manager.start(spec({ version: '9.9.9' }))).rejects.toThrow(NotFoundError);
    await expect(f.manager.start(spec({ version: '9.9.9' }))).rejects.toThrow(/no artifact for version "9\.9\.9" \(known versions: 1\.0\.0, 2\.0\.0, 3\.0\.0\)/);
    await expect(f.manager.start(spec({ app: 'api' }))).rejects.toThrow(/app "api" has no artifacts/);
    expect(await f.buckets.active.get('active.web')).toBeNull();
  });
});

describe('driving a rollout', () => {
  it('walks canary and batches to success on reports and timers, then marks the version stable', async () => {
    const f = await fixture();
    const { state } = await f.manager.start(spec());
    const id = state?.id as string;
    await f.converge();
    await f.advance(10_000 + 5_000); // canary healthy 10s, bake 5s
    expect(f.calls.map((c) => c.hostIds.length)).toEqual([1, 2]);
    await f.converge();
    await f.advance(15_000);
    await f.converge();
    await f.advance(10_000);
    const done = await f.rollout(id);
    expect(done.status).toBe('succeeded');
    expect(f.calls.map((c) => c.hostIds.length)).toEqual([1, 2, 2]);
    // Each host written once: its first assignment, seq 1.
    for (const h of f.hostIds) expect(f.assignment(h)).toMatchObject({ seq: 1, version: '2.0.0' });
    expect((await f.apps.get('web'))?.value).toMatchObject({ stableVersion: '2.0.0', stableSinceMs: done.finishedAtMs });
    expect((await f.buckets.active.get('active.web'))?.value.rolloutId).toBeNull();
    // The next rollout of the app may start now.
    const next = await f.manager.start(spec({ version: '3.0.0' }));
    expect(next.state?.stableVersion).toBe('2.0.0');
  });

  it('writes nothing for heartbeats that change nothing', async () => {
    const f = await fixture();
    await f.manager.start(spec());
    await f.converge();
    const writes = f.kv.writes;
    const transitions = f.transitions.length;
    for (let i = 0; i < 20; i++) await f.converge();
    expect(f.kv.writes).toBe(writes);
    expect(f.transitions.length).toBe(transitions);
  });

  it('reverts every touched host at once to the stable version when the canary fails, writing first', async () => {
    const f = await fixture();
    const { state } = await f.manager.start(spec({ healthyDeadline: '30s' }));
    const canary = f.calls[0]?.hostIds[0] as string;
    await f.beat(canary, [report('2.0.0', { health: 'unhealthy', error: 'GET /healthz: 500' })]);
    await f.advance(30_000);
    const revert = f.calls[1];
    expect(revert).toMatchObject({ hostIds: [canary], version: '1.0.0' });
    expect(revert?.persisted.status).toBe('reverting');
    expect(revert?.persisted.hosts.find((h) => h.hostId === canary)?.state).toBe('reverting');
    const done = await f.rollout(state?.id as string);
    expect(done.status).toBe('reverted');
    expect(done.hosts.find((h) => h.hostId === canary)?.failureReason).toMatch(/health check failing on 2\.0\.0: GET \/healthz: 500/);
    expect(f.assignment(canary)).toEqual({ seq: 2, version: '1.0.0', stable: '1.0.0' });
    // Only the canary was ever touched.
    for (const h of f.hostIds.filter((h) => h !== canary)) expect(f.assignment(h)).toBeNull();
    expect((await f.apps.get('web'))?.value.stableVersion).toBe('1.0.0');
  });

  it('an alarm stops the rollout and reverts; alarms for an app with no active rollout are no-ops', async () => {
    const f = await fixture();
    expect(await f.manager.alarm('web', 'alertmanager', 'HighErrorRate')).toBeNull();
    const { state } = await f.manager.start(spec());
    const after = await f.manager.alarm('web', 'alertmanager', 'HighErrorRate');
    expect(after?.status).toBe('reverted');
    expect(after?.endedBy).toBe('alarm:alertmanager');
    expect((await f.rollout(state?.id as string)).log.map((e) => e.kind)).toContain('alarm');
  });
});

describe('operator commands', () => {
  it('pause, a refused promote, resume, and abort --no-revert', async () => {
    const f = await fixture();
    const { state } = await f.manager.start(spec());
    const id = state?.id as string;
    await expect(f.manager.command(id, 'promote', { actor: 'bob' })).rejects.toThrow(`rollout ${id} is not paused (it is running): nothing to promote`);
    expect((await f.manager.command(id, 'pause', { actor: 'bob' })).status).toBe('paused');
    await f.converge();
    await f.advance(60_000);
    // Paused: the canary passed and baked, but no new step started.
    expect(f.calls).toHaveLength(1);
    expect((await f.manager.command(id, 'resume', { actor: 'bob' })).status).toBe('running');
    expect(f.calls).toHaveLength(2);
    const aborted = await f.manager.command(id, 'abort', { actor: 'bob', noRevert: true });
    expect(aborted).toMatchObject({ status: 'aborted', endedBy: 'operator:bob' });
    expect(aborted.log.filter((e) => e.actor === 'operator:bob').map((e) => e.kind)).toEqual(['paused', 'resumed', 'aborted']);
    // No revert: the hosts keep what they were given.
    expect(f.calls).toHaveLength(2);
    await expect(f.manager.command(id, 'resume')).rejects.toThrow(`rollout ${id} already ended aborted; it cannot resume`);
    await expect(f.manager.command('web-99', 'pause')).rejects.toThrow(NotFoundError);
  });

  it('abort reverts the touched hosts', async () => {
    const f = await fixture();
    const { state } = await f.manager.start(spec());
    const aborted = await f.manager.command(state?.id as string, 'abort', { actor: 'bob' });
    expect(aborted.status).toBe('reverted');
    expect(f.calls.at(-1)).toMatchObject({ version: '1.0.0' });
  });
});

describe('a controller restart', () => {
  it('resumes mid-bake: no step redone, no host assigned twice, the time already baked counts', async () => {
    const f = await fixture();
    const { state } = await f.manager.start(spec({ bake: '20s' }));
    const id = state?.id as string;
    await f.converge();
    await f.advance(10_000 + 8_000); // canary passed at +10s, baked 8 of 20s
    expect(f.calls).toHaveLength(1);
    await f.restart();
    await f.advance(11_000);
    expect(f.calls).toHaveLength(1);
    await f.advance(1_000); // 20s after the canary passed, counting the time before the restart
    expect(f.calls).toHaveLength(2);
    await f.converge();
    await f.advance(10_000 + 20_000);
    await f.converge();
    await f.advance(10_000);
    const done = await f.rollout(id);
    expect(done.status).toBe('succeeded');
    expect(done.log.filter((e) => e.kind === 'step-started').map((e) => e.details['step'])).toEqual([0, 1, 2]);
    for (const h of f.hostIds) expect(f.assignment(h)?.seq).toBe(1);
  });

  it('resumes after dying between writing a step and assigning its hosts: they are assigned once', async () => {
    const f = await fixture();
    const { state } = await f.manager.start(spec({ bake: '0s' }));
    const id = state?.id as string;
    const canary = f.calls[0]?.hostIds[0] as string;
    await f.converge();
    // The process dies as the canary passes: step 2 is written, its assignments never are.
    f.crash.atNextAssign = true;
    await f.advance(10_000);
    const step2 = (await f.rollout(id)).steps[1];
    expect(step2?.startedAtMs).not.toBeNull();
    for (const h of step2?.hostIds ?? []) expect(f.assignment(h)).toBeNull();

    await f.restart();
    await f.advance(5_000); // an unacknowledged assignment is sent again after 5s
    for (const h of step2?.hostIds ?? []) expect(f.assignment(h)).toMatchObject({ seq: 1, version: '2.0.0' });
    // A second restart right after changes nothing: the writes are "set the version", idempotent.
    await f.restart();
    await f.advance(10_000);
    for (const h of step2?.hostIds ?? []) expect(f.assignment(h)?.seq).toBe(1);
    expect(f.assignment(canary)?.seq).toBe(1);
    expect((await f.rollout(id)).log.filter((e) => e.kind === 'step-started')).toHaveLength(2);
  });

  it('settles a rollout that finished just before the crash: stable version, history and claim', async () => {
    const f = await fixture(1);
    const { state } = await f.manager.start(spec({ canary: 1 }));
    const id = state?.id as string;
    f.kill();
    // The state says "succeeded", but the process died before anything after that write.
    const entry = await f.buckets.states.get(`rollout.${id}`);
    const finished: RolloutState = { ...(entry?.value as RolloutState), status: 'succeeded', finishedAtMs: T0 + 1, endReason: 'done' };
    await f.buckets.states.update(`rollout.${id}`, finished, entry?.revision as number);
    await f.start();
    expect((await f.apps.get('web'))?.value).toMatchObject({ stableVersion: '2.0.0', stableSinceMs: T0 + 1 });
    expect((await f.buckets.active.get('active.web'))?.value.rolloutId).toBeNull();
    const history = await f.manager.history('web');
    expect(history.rollouts[0]).toMatchObject({ id, status: 'succeeded' });
    expect(history.versions.find((v) => v.version === '2.0.0')?.periods).toEqual([
      { version: '2.0.0', sinceMs: T0 + 1, untilMs: null, rolloutId: id },
    ]);
  });
});

describe('history', () => {
  it('shows each version, when it was stable, and how each rollout ended and why', async () => {
    const f = await fixture(3);
    const first = await f.manager.start(spec({ canary: 1, batch: '100%', bake: '0s' }));
    await f.converge();
    await f.advance(10_000);
    await f.converge();
    await f.advance(10_000);
    expect((await f.rollout(first.state?.id as string)).status).toBe('succeeded');
    const second = await f.manager.start(spec({ version: '3.0.0', healthyDeadline: '20s' }));
    await f.advance(20_000);
    expect((await f.rollout(second.state?.id as string)).status).toBe('reverted');

    const h = await f.manager.history('web');
    expect(h.stableVersion).toBe('2.0.0');
    expect(h.versions.map((v) => [v.version, v.stable, v.periods.map((p) => p.rolloutId)])).toEqual([
      ['1.0.0', false, []],
      ['2.0.0', true, [first.state?.id]],
      ['3.0.0', false, []],
    ]);
    expect(h.rollouts.map((r) => [r.id, r.version, r.status])).toEqual([
      [second.state?.id, '3.0.0', 'reverted'],
      [first.state?.id, '2.0.0', 'succeeded'],
    ]);
    expect(h.rollouts[0]?.endReason).toMatch(/1 host\(s\) failed, more than the 0 tolerated/);
    expect((await f.manager.list()).map((r) => r.id)).toEqual([second.state?.id, first.state?.id]);
    expect((await f.manager.get({ app: 'web' })).id).toBe(second.state?.id);
    await expect(f.manager.history('nope')).rejects.toThrow(/app "nope" is unknown/);
  });

  it('an app with no stable version fails without a revert and says so', async () => {
    const f = await fixture(2, { stable: null });
    const { state } = await f.manager.start(spec({ healthyDeadline: '20s' }));
    await f.advance(20_000);
    const done = await f.rollout(state?.id as string);
    expect(done.status).toBe('failed');
    expect(done.endReason).toMatch(/no stable version yet \(first release\)/);
    expect(f.calls).toHaveLength(1);
  });
});

describe('hosts going down', () => {
  it('fails an observed host that the registry marks down', async () => {
    const f = await fixture(3);
    const { state } = await f.manager.start(spec({ maxFailures: 1 }));
    const canary = f.calls[0]?.hostIds[0] as string;
    // Everyone else keeps beating; the canary goes silent.
    for (let i = 0; i < 5; i++) {
      f.clock.nowMs += 1000;
      for (const h of f.hostIds.filter((x) => x !== canary)) await f.beat(h, [report('1.0.0')]);
    }
    await f.registry.sweep();
    await f.settle();
    const s = await f.rollout(state?.id as string);
    expect(s.hosts.find((h) => h.hostId === canary)).toMatchObject({ state: 'failed', failureReason: 'host went silent (marked down)' });
    expect(s.status).not.toBe('reverting');
  });
});

describe('heartbeats and large rollouts', () => {
  it('looks again at a host already running the target when its step starts', async () => {
    const f = await fixture(3);
    const { state } = await f.manager.start(spec({ canary: 1, batch: 2, bake: '0s' }));
    const canary = f.calls[0]?.hostIds[0] as string;
    const others = f.hostIds.filter((h) => h !== canary);
    // The other hosts run 2.0.0 already (put there by hand) and say so before their step...
    for (const h of others) await f.beat(h, [report('2.0.0')]);
    await f.beat(canary, [report('2.0.0')]);
    await f.advance(10_000);
    expect((await f.rollout(state?.id as string)).currentStep).toBe(1);
    // ...and repeat it word for word once it has started: that still counts.
    for (const h of others) await f.beat(h, [report('2.0.0')]);
    await f.advance(10_000);
    expect((await f.rollout(state?.id as string)).status).toBe('succeeded');
  });

  it('goes on from a state the previous controller wrote in the first format', async () => {
    const f = await fixture(5);
    const { state } = await f.manager.start(spec({ canary: 1, batch: 2, bake: '0s' }));
    const id = state?.id as string;
    await f.converge();
    f.kill();
    const entry = await f.buckets.states.get(`rollout.${id}`);
    // The first format: the state's own JSON, without the count of log entries dropped.
    const { logDropped, ...old } = JSON.parse(JSON.stringify(entry?.value)) as RolloutState;
    expect(logDropped).toBe(0);
    await f.kv.update(`rollout.${id}`, new TextEncoder().encode(JSON.stringify(old)), entry?.revision as number);
    await f.start();
    for (let round = 0; round < 6 && (await f.rollout(id)).status !== 'succeeded'; round++) {
      await f.advance(10_000);
      await f.converge();
    }
    expect((await f.rollout(id)).status).toBe('succeeded');
    expect(f.hostIds.map((h) => f.assignment(h)?.version)).toEqual(f.hostIds.map(() => '2.0.0'));
    // Written again in the current format.
    expect(JSON.parse((await f.kv.get(`rollout.${id}`))?.string() ?? '{}')).toMatchObject({ format: 2, status: 'succeeded' });
  });

  it('tells watchers of a large rollout at most every hostCount × 10 µs, and of its end at once', async () => {
    const f = await fixture(400);
    const { state } = await f.manager.start(spec({ canary: 1, batch: '50%', minHealthyTime: '10s' }));
    const id = state?.id as string;
    const canary = f.calls[0]?.hostIds[0] as string;
    const seen: RolloutState[] = [];
    await f.manager.watch({ id }, { change: (s) => seen.push(s), closed: () => {} });
    await f.beat(canary, [report('2.0.0', { health: 'unknown' })]);
    expect(seen.map((s) => s.hosts.find((h) => h.hostId === canary)?.lastReport?.health)).toEqual(['unknown']);
    // Within 4 ms (400 hosts) of that: held back, then the latest told once.
    await f.beat(canary, [report('2.0.0', { health: 'healthy' })]);
    await f.beat(canary, [report('2.0.0', { health: 'unknown', restarts: 1 })]);
    expect(seen).toHaveLength(1);
    await f.advance(4);
    expect(seen.map((s) => s.hosts.find((h) => h.hostId === canary)?.lastReport?.restarts)).toEqual([0, 1]);
    await f.beat(canary, [report('2.0.0', { health: 'healthy' })]);
    await f.manager.command(id, 'abort', { noRevert: true, actor: 'bob' });
    expect(seen.at(-1)?.status).toBe('aborted');
  });
});
