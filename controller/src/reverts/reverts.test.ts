import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '@flotilla/shared';
import { fixture, report, spec } from '../testing/rollouts.js';

/** A rollout of 2.0.0 over the stable 1.0.0 to every host in one step, carried to success. */
async function succeed(f: Awaited<ReturnType<typeof fixture>>, over: Parameters<typeof spec>[0] = {}): Promise<string> {
  const { state } = await f.manager.start(spec({ canary: '100%', bake: '0s', ...over }));
  const id = state?.id as string;
  await f.converge();
  await f.advance(10_000);
  expect((await f.rollout(id)).status).toBe('succeeded');
  return id;
}

describe('an alarm while a rollout runs', () => {
  it('stops it, reverts the touched hosts, marks the version bad, and stores the alarm', async () => {
    const f = await fixture(5);
    const { state } = await f.manager.start(spec());
    const canary = f.calls[0]?.hostIds[0] as string;
    const outcome = await f.raise();
    expect(outcome).toMatchObject({ action: 'reverted', rolloutId: state?.id, toVersion: '1.0.0' });
    expect((await f.rollout(state?.id as string)).status).toBe('reverted');
    expect(f.assignment(canary)).toEqual({ seq: 2, version: '1.0.0', stable: '1.0.0' });
    const app = (await f.apps.get('web'))?.value;
    expect(app?.stableVersion).toBe('1.0.0');
    expect(app?.badVersions).toEqual([{ version: '2.0.0', atMs: f.clock.nowMs, reason: 'HighErrorRate: 5xx above 5%', by: 'alarm:alertmanager' }]);

    // Another alert of the storm: nothing more, but it is stored too.
    expect(await f.raise('webhook:grafana', 'error budget')).toMatchObject({ action: 'already-reverting', toVersion: '1.0.0' });
    expect(f.assignment(canary)?.seq).toBe(2);
    const events = await f.ledger.recentEvents('web');
    expect(events.map((e) => [e.kind, e.source, e.action, e.rolloutId, e.hosts])).toEqual([
      ['alarm', 'webhook:grafana', 'already-reverting', state?.id, 0],
      ['alarm', 'alertmanager', 'reverted', state?.id, 1],
    ]);
    expect(events[1]).toMatchObject({ id: 'web-e1', summary: { firing: 1 }, severity: 'critical', fromVersion: '2.0.0', toVersion: '1.0.0' });
    expect((await f.ledger.eventsOf('web', state?.id as string)).map((e) => e.id)).toEqual(['web-e1', 'web-e2']);
  });

  it('20 concurrent alarms: one revert, one new assignment per touched host', async () => {
    const f = await fixture(5);
    await f.manager.start(spec());
    const canary = f.calls[0]?.hostIds[0] as string;
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => f.raise(i % 2 ? 'alertmanager' : 'builtin:health')));
    expect(outcomes.filter((o) => o.action === 'reverted')).toHaveLength(1);
    expect(outcomes.filter((o) => o.action === 'already-reverting')).toHaveLength(19);
    expect(f.assignment(canary)?.seq).toBe(2);
    expect(f.calls.filter((c) => c.version === '1.0.0').flatMap((c) => c.hostIds)).toEqual([canary]);
    expect(await f.ledger.recentEvents('web')).toHaveLength(20);
  });

  it('alarms for different apps revert each app once', async () => {
    const f = await fixture(5, { apps: ['web', 'api'] });
    const web = (await f.manager.start(spec())).state?.id;
    const api = (await f.manager.start(spec({ app: 'api' }))).state?.id;
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => f.raise('alertmanager', 'errors', i % 2 ? 'web' : 'api')));
    const reverted = outcomes.filter((o) => o.action === 'reverted').map((o) => o.rolloutId).sort();
    expect(reverted).toEqual([api, web].sort());
    expect(outcomes.filter((o) => o.action === 'already-reverting')).toHaveLength(18);
    expect((await f.rollout(web as string)).status).toBe('reverted');
    expect((await f.rollout(api as string)).status).toBe('reverted');
    expect((await f.ledger.recentEvents('web')).length + (await f.ledger.recentEvents('api')).length).toBe(20);
  });

  it('a bad version needs force to be rolled out again; success with force makes it good', async () => {
    const f = await fixture(1);
    await f.manager.start(spec({ canary: 1 }));
    await f.raise();
    const refused = await f.manager.start(spec({ canary: 1 })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect((refused as Error).message).toMatch(/^web@2\.0\.0 is marked bad \(alarm:alertmanager, .*: HighErrorRate: 5xx above 5%\); pass --force/);
    const { state } = await f.manager.start(spec({ canary: 1 }), { force: true });
    await f.converge();
    await f.advance(10_000);
    expect((await f.rollout(state?.id as string)).status).toBe('succeeded');
    expect((await f.apps.get('web'))?.value).toMatchObject({ stableVersion: '2.0.0', previousStableVersion: '1.0.0', badVersions: [] });
  });
});

describe('an alarm after a rollout finished', () => {
  it('inside its watch window: every host back on the previous stable version, at once, once', async () => {
    const f = await fixture(3);
    const id = await succeed(f);
    expect((await f.apps.get('web'))?.value).toMatchObject({ stableVersion: '2.0.0', previousStableVersion: '1.0.0' });
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => f.raise()));
    expect(outcomes.filter((o) => o.action === 'reverted')).toEqual([
      { action: 'reverted', rolloutId: id, toVersion: '1.0.0', message: expect.stringMatching(/^inside the watch window of rollout web-1-[a-z]{7} .*: reverted 3 host\(s\) to 1\.0\.0; 2\.0\.0 marked bad$/) },
    ]);
    expect(outcomes.filter((o) => o.action === 'already-reverting')).toHaveLength(19);
    for (const h of f.hostIds) expect(f.assignment(h)).toEqual({ seq: 2, version: '1.0.0', stable: '1.0.0' });
    // All three in one write, with no gate between them.
    expect(f.calls.filter((c) => c.version === '1.0.0').map((c) => c.hostIds)).toEqual([f.hostIds]);
    const app = (await f.apps.get('web'))?.value;
    expect(app).toMatchObject({ stableVersion: '1.0.0', previousStableVersion: null });
    expect(app?.badVersions?.map((b) => b.version)).toEqual(['2.0.0']);
    const revert = (await f.revert());
    expect(revert).toMatchObject({ id: 'web-r1', episode: `rollout:${id}`, status: 'done', fromVersion: '2.0.0', toVersion: '1.0.0', hostIds: f.hostIds });
    const history = await f.manager.history('web');
    expect(history.versions.find((v) => v.version === '1.0.0')?.periods.map((p) => p.rolloutId)).toEqual(['web-r1']);
    expect(history.versions.find((v) => v.version === '2.0.0')?.bad?.by).toBe('alarm:alertmanager');
    expect((await f.ledger.recentEvents('web')).filter((e) => e.action === 'reverted').map((e) => e.hosts)).toEqual([3]);
  });

  it('outside its watch window: recorded only, nothing assigned', async () => {
    const f = await fixture(3);
    await succeed(f, { watchWindow: '1m' });
    await f.advance(61_000);
    const outcome = await f.raise();
    expect(outcome).toEqual({
      action: 'recorded',
      message: expect.stringMatching(/^outside the watch window of rollout web-1-[a-z]{7} \(it ended 1m01s ago, window 1m00s\): recorded only/),
    });
    for (const h of f.hostIds) expect(f.assignment(h)).toMatchObject({ seq: 1, version: '2.0.0' });
    expect((await f.apps.get('web'))?.value).toMatchObject({ stableVersion: '2.0.0' });
    expect((await f.ledger.recentEvents('web')).map((e) => e.action)).toEqual(['recorded']);
  });

  it('outside its watch window with the policy on: back to the previous stable version, once', async () => {
    const f = await fixture(3, { revertOutsideWatchWindow: true });
    await succeed(f, { watchWindow: '1m' });
    await f.advance(61_000);
    expect(await f.raise()).toMatchObject({ action: 'reverted', toVersion: '1.0.0' });
    expect(await f.raise()).toMatchObject({ action: 'already-reverting', toVersion: '1.0.0' });
    for (const h of f.hostIds) expect(f.assignment(h)).toMatchObject({ seq: 2, version: '1.0.0' });
  });

  it('a revert cut short by a controller dying is finished when the next one starts', async () => {
    const f = await fixture(3);
    await succeed(f);
    f.crash.atNextAssign = true;
    // The dying controller never answers this alarm; its revert record is already written.
    void f.raise();
    for (let i = 0; i < 50 && (await f.revert()) === null; i++) await new Promise((r) => setImmediate(r));
    expect((await f.revert()).status).toBe('reverting');
    for (const h of f.hostIds) expect(f.assignment(h)?.version).toBe('2.0.0');
    await f.restart();
    for (const h of f.hostIds) expect(f.assignment(h)).toMatchObject({ seq: 2, version: '1.0.0' });
    expect((await f.revert()).status).toBe('done');
    expect((await f.apps.get('web'))?.value.stableVersion).toBe('1.0.0');
  });
});

describe('the event log when a controller dies during a revert', () => {
  it('keeps the alarm that caused the revert, once, and a retry of it says what it met', async () => {
    const f = await fixture(3);
    const id = await succeed(f);
    f.crash.atNextAssign = true;
    // Dies between writing the revert record and moving any host: the alarm is never answered.
    void f.raise();
    for (let i = 0; i < 50 && (await f.revert()) === null; i++) await new Promise((r) => setImmediate(r));
    expect((await f.revert())?.status).toBe('reverting');
    await f.restart();
    expect((await f.revert())?.status).toBe('done');
    // The sender got no answer and sends the alert again; a controller restarting once more adds nothing.
    expect(await f.raise()).toMatchObject({ action: 'already-reverting', toVersion: '1.0.0' });
    await f.restart();
    const events = (await f.ledger.events('web')).map((e) => [e.id, e.action, e.rolloutId, e.revertId, e.fromVersion, e.toVersion, e.hosts]);
    expect(events).toEqual([
      ['web-e1', 'reverted', id, 'web-r1', '2.0.0', '1.0.0', 3],
      ['web-e2', 'already-reverting', id, 'web-r1', '2.0.0', '1.0.0', 0],
    ]);
  });

  it('logs the revert of an alarm whose controller died before recording it, with the retry', async () => {
    const f = await fixture(5);
    const { state } = await f.manager.start(spec());
    const id = state?.id as string;
    f.crash.atNextAssign = true;
    // The engine has decided and stored the revert; the controller dies writing its assignments.
    void f.raise();
    for (let i = 0; i < 50 && (await f.rollout(id)).status !== 'reverting'; i++) await new Promise((r) => setImmediate(r));
    expect((await f.rollout(id)).status).toBe('reverting');
    await f.restart();
    expect(await f.raise()).toMatchObject({ action: 'reverted', rolloutId: id, toVersion: '1.0.0' });
    const events = (await f.ledger.events('web')).map((e) => [e.action, e.rolloutId, e.revertId, e.fromVersion, e.toVersion, e.hosts]);
    expect(events).toEqual([['reverted', id, 'web-r1', '2.0.0', '1.0.0', 1]]);
  });

  it('logs it too when the retry comes after the rollout has finished reverting', async () => {
    const f = await fixture(5);
    const { state } = await f.manager.start(spec());
    const id = state?.id as string;
    const canary = f.calls[0]?.hostIds[0] as string;
    f.crash.atNextAssign = true;
    void f.raise();
    for (let i = 0; i < 50 && (await f.rollout(id)).status !== 'reverting'; i++) await new Promise((r) => setImmediate(r));
    await f.restart();
    // The new controller sends the revert again and the canary goes back.
    await f.advance(60_000);
    await f.converge();
    await f.advance(1_000);
    expect((await f.rollout(id)).status).toBe('reverted');
    expect(f.assignment(canary)?.version).toBe('1.0.0');
    expect(await f.raise()).toMatchObject({ action: 'reverted', rolloutId: id, toVersion: '1.0.0' });
    const events = (await f.ledger.events('web')).map((e) => [e.action, e.rolloutId, e.revertId, e.fromVersion, e.toVersion, e.hosts]);
    expect(events).toEqual([['reverted', id, 'web-r1', '2.0.0', '1.0.0', 1]]);
    expect((await f.apps.get('web'))?.value.badVersions?.map((b) => b.version)).toEqual(['2.0.0']);
  });

  it('keeps a rollback whose controller died before the hosts were moved', async () => {
    const f = await fixture(3);
    await succeed(f);
    f.crash.atNextAssign = true;
    void f.rollbacks.rollback({ app: 'web', actor: 'bob' });
    for (let i = 0; i < 50 && (await f.revert()) === null; i++) await new Promise((r) => setImmediate(r));
    await f.restart();
    expect((await f.ledger.events('web')).map((e) => [e.kind, e.action, e.revertId, e.hosts, e.actor])).toEqual([
      ['rollback', 'rolled-back', 'web-r1', 3, 'operator:bob'],
    ]);
  });
});

describe('a failed rollout step', () => {
  /** A rollout of 2.0.0 whose canary fails its health gate. */
  async function failCanary(f: Awaited<ReturnType<typeof fixture>>, opts: { dieAtRevert?: boolean } = {}): Promise<{ id: string; canary: string }> {
    const { state } = await f.manager.start(spec({ healthyDeadline: '30s' }));
    const canary = f.calls[0]?.hostIds[0] as string;
    // The controller process dies at the revert's first assignment write, before it is written.
    if (opts.dieAtRevert) f.crash.atNextAssign = true;
    await f.beat(canary, [report('2.0.0', { health: 'unhealthy', error: 'GET /healthz: 500' })]);
    return { id: state?.id as string, canary };
  }

  it('reverts through the revert path: one record, one event, nothing marked bad', async () => {
    const f = await fixture(3);
    const { id, canary } = await failCanary(f);
    expect((await f.rollout(id)).status).toBe('reverted');
    expect(await f.revert()).toMatchObject({
      id: 'web-r1',
      cause: 'failed-step',
      actor: 'engine',
      episode: `failed-step:${id}`,
      rolloutId: id,
      fromVersion: '2.0.0',
      badVersion: null,
      toVersion: '1.0.0',
      hostIds: [canary],
      status: 'done',
    });
    expect((await f.revert())?.reason).toMatch(/^1 host\(s\) failed, more than the 0 tolerated: .*GET \/healthz: 500/);
    // One new assignment, for the canary alone.
    expect(f.assignment(canary)).toEqual({ seq: 2, version: '1.0.0', stable: '1.0.0' });
    for (const h of f.hostIds.filter((h) => h !== canary)) expect(f.assignment(h)).toBeNull();
    const events = await f.ledger.recentEvents('web');
    expect(events.map((e) => [e.kind, e.source, e.action, e.rolloutId, e.revertId, e.fromVersion, e.toVersion, e.hosts])).toEqual([
      ['failed-step', 'engine', 'reverted', id, 'web-r1', '2.0.0', '1.0.0', 1],
    ]);
    expect((await f.ledger.eventsOf('web', id)).map((e) => e.kind)).toEqual(['failed-step']);
    expect((await f.apps.get('web'))?.value.stableVersion).toBe('1.0.0');
    expect((await f.apps.get('web'))?.value.badVersions ?? []).toEqual([]);
  });

  it('leaves a later alarm in the watch window to mark the version bad, as it did before the record', async () => {
    const f = await fixture(3);
    const { id, canary } = await failCanary(f);
    await f.advance(30_000);
    expect(await f.raise()).toMatchObject({ rolloutId: id, toVersion: '1.0.0' });
    expect((await f.apps.get('web'))?.value.badVersions?.map((b) => [b.version, b.by])).toEqual([['2.0.0', 'alarm:alertmanager']]);
    // The alarm's own revert follows the failed step's in the record; no host moved again.
    expect(await f.revert()).toMatchObject({ id: 'web-r2', cause: 'alarm', episode: `rollout:${id}`, status: 'done' });
    expect(f.assignment(canary)?.seq).toBe(2);
    expect((await f.ledger.recentEvents('web')).map((e) => e.kind)).toEqual(['alarm', 'failed-step']);
  });

  it('is carried on after the controller dies between writing its record and moving the hosts', async () => {
    const f = await fixture(3);
    const { id, canary } = await failCanary(f, { dieAtRevert: true });
    expect((await f.rollout(id)).status).toBe('reverting');
    expect(await f.revert()).toMatchObject({ cause: 'failed-step', status: 'reverting', hostIds: [canary] });
    expect(f.assignment(canary)?.version).toBe('2.0.0');
    expect(await f.ledger.recentEvents('web')).toEqual([]);

    await f.restart();
    await f.settle();
    expect((await f.rollout(id)).status).toBe('reverted');
    expect(await f.revert()).toMatchObject({ id: 'web-r1', status: 'done' });
    expect(f.assignment(canary)).toEqual({ seq: 2, version: '1.0.0', stable: '1.0.0' });
    // Once: a controller restarting again finds nothing left to do.
    await f.restart();
    await f.settle();
    expect(f.assignment(canary)?.seq).toBe(2);
    expect((await f.ledger.recentEvents('web')).map((e) => [e.kind, e.revertId, e.hosts])).toEqual([['failed-step', 'web-r1', 1]]);
  });
});

describe('flotilla rollback', () => {
  it('goes back to the previous stable version when every host runs the stable one, and says so in the events', async () => {
    const f = await fixture(3);
    await succeed(f);
    const result = await f.rollbacks.rollback({ app: 'web', actor: 'bob' });
    expect(result).toMatchObject({
      abortedRolloutId: null,
      revert: { id: 'web-r1', cause: 'rollback', actor: 'operator:bob', fromVersion: '2.0.0', toVersion: '1.0.0' },
      assigned: f.hostIds.map((hostId) => ({ hostId, seq: 2 })),
      event: { kind: 'rollback', source: 'operator', actor: 'operator:bob', action: 'rolled-back', hosts: 3, reason: 'rollback by bob' },
    });
    expect((await f.apps.get('web'))?.value).toMatchObject({ stableVersion: '1.0.0' });
    // An alarm right after, about the rollout the operator already undid, changes nothing.
    expect(await f.raise()).toMatchObject({ action: 'already-reverting', toVersion: '1.0.0' });
  });

  it('to a named version: every host goes there and it becomes stable, but nothing is marked bad', async () => {
    const f = await fixture(3);
    await succeed(f);
    const result = await f.rollbacks.rollback({ app: 'web', toVersion: '1.0.0', actor: 'bob' });
    expect(result.revert).toMatchObject({ fromVersion: '2.0.0', toVersion: '1.0.0', badVersion: null, hostIds: f.hostIds });
    expect((await f.apps.get('web'))?.value.stableVersion).toBe('1.0.0');
    expect((await f.apps.get('web'))?.value.badVersions ?? []).toEqual([]);
    expect(result.message).toBe('3 host(s) of web sent to 1.0.0');
    // Once more: every host is there already.
    const again = await f.rollbacks.rollback({ app: 'web', toVersion: '1.0.0', actor: 'bob' });
    expect(again).toMatchObject({ assigned: [], event: { action: 'unchanged' }, message: 'every host of web already runs 1.0.0' });
  });

  it('aborts an active rollout and sends its hosts back; refuses unknown and bad versions', async () => {
    const f = await fixture(5);
    const { state } = await f.manager.start(spec({ version: '3.0.0' }));
    const canary = f.calls[0]?.hostIds[0] as string;
    await expect(f.rollbacks.rollback({ app: 'web', toVersion: '9.9.9', actor: 'bob' })).rejects.toThrow(NotFoundError);
    await expect(f.rollbacks.rollback({ app: 'web', toVersion: '9.9.9', actor: 'bob' })).rejects.toThrow(
      'app "web" has no artifact for version "9.9.9" (known versions: 1.0.0, 2.0.0, 3.0.0)',
    );
    expect((await f.rollout(state?.id as string)).status).toBe('running');
    const result = await f.rollbacks.rollback({ app: 'web', actor: 'bob' });
    expect(result.abortedRolloutId).toBe(state?.id);
    expect(result.assigned).toEqual([{ hostId: canary, seq: 2 }]);
    expect((await f.rollout(state?.id as string))).toMatchObject({ status: 'reverted', endedBy: 'operator:bob' });
    expect(f.assignment(canary)).toMatchObject({ version: '1.0.0' });
    expect((await f.apps.get('web'))?.value.badVersions?.map((b) => b.version)).toEqual(['3.0.0']);
    await expect(f.rollbacks.rollback({ app: 'web', toVersion: '3.0.0', actor: 'bob' })).rejects.toThrow(/web@3\.0\.0 is marked bad .*pass --force/);
    await expect(f.rollbacks.rollback({ app: 'api', actor: 'bob' })).rejects.toThrow('app "api" is unknown: no artifact has been pushed for it');
  });
});

describe('knowsApp', () => {
  it('knows apps with a record, and nothing else', async () => {
    const f = await fixture(1);
    expect(await f.alarms.knowsApp('web')).toBe(true);
    expect(await f.alarms.knowsApp('api')).toBe(false);
    expect(await f.alarms.knowsApp('constructor')).toBe(false);
  });
});
