import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetHistoryResponse__Output, GetStatusResponse__Output, Rollout__Output } from '@flotilla/proto';
import { fireAlertmanager, postAlert } from './alerts.js';
import { deadlineFlag, waitUntil } from './deadline.js';
import { Fleet, type CliResult } from './fleet.js';

// Alert webhooks against a real fleet: nats-server, controller, three agents running the demo
// app, Alertmanager's own payloads over HTTP, the CLI as a process. What is asserted is what an
// operator checks: each host's answer on its port, `flotilla status/events/history --json`.
// Every wait is on a condition, bounded.

const TOKEN = 'e2e-alerts-token-0123456789abcdef';
/** Canary of one, then batches of one; hosts pass after 1s healthy. */
const FAST = ['--canary', '1', '--batch', '1', '--min-healthy-time', '1s', '--healthy-deadline', deadlineFlag(30)];

let fleet: Fleet;

const cli = (args: string[], expected = 0): Promise<CliResult> => fleet.run(args, expected);
const json = <T>(args: string[]): Promise<T> => fleet.json<T>(args);
const answers = () => fleet.answers();
const seqs = () => fleet.seqs();
const events = () => fleet.events();
const fleetOn = (version: string, timeoutMs?: number) => fleet.waitForFleetOn(version, timeoutMs);

async function start(version: string, ...flags: string[]): Promise<string> {
  const r = await json<{ rollout: Rollout__Output }>(['rollout', 'start', `demo@${version}`, ...FAST, ...flags]);
  return r.rollout.id;
}

beforeAll(async () => {
  fleet = await Fleet.startDeployed({ agents: 3, heartbeatInterval: '500ms', controllerEnv: { FLOTILLA_ALERTS_TOKEN: TOKEN }, stable: '1.0.0' });
});

afterAll(async () => {
  await fleet?.stop();
});

describe('alerts against a real fleet', () => {
  it('an Alertmanager alert mid-canary reverts the canary, marks the version bad, and is stored', async () => {
    await fleet.push('2.0.0');
    const before = await seqs();
    // The canary would need a minute to pass: the alert finds the rollout running.
    const id = await start('2.0.0', '--min-healthy-time', '1m', '--healthy-deadline', '2m');
    const running = await fleet.waitForRollout(id, 'the canary serving 2.0.0', (r) => r.hosts.some((h) => h.state === 'healthy-wait'));
    const canary = running.steps[0]!.host_ids[0]!;
    const canaryIndex = fleet.indexOf(canary);
    expect((await fleet.answer(canaryIndex))?.version).toBe('2.0.0');

    const reply = await fireAlertmanager(fleet.controller.http, TOKEN, 'demo');
    expect(reply.status).toBe(202);
    expect(reply.body.apps).toEqual([expect.objectContaining({ app: 'demo', firing: 1, action: 'reverted', rolloutId: id, toVersion: '1.0.0' })]);
    await fleetOn('1.0.0');

    const rollout = await json<Rollout__Output>(['rollout', 'status', id]);
    expect(rollout).toMatchObject({ status: 'reverted', ended_by: 'alarm:alertmanager' });
    expect(rollout.end_reason).toMatch(/^alarm from alertmanager: HighErrorRate: demo answers 7% of requests with 5xx/);
    expect(rollout.events.map((e) => [e.source, e.action])).toEqual([['alertmanager', 'reverted']]);
    // Only the canary was touched: one new assignment for it, none for the others.
    const after = await seqs();
    for (const [host, seq] of before) expect(after.get(host), host).toBe(host === canary ? seq + 2 : seq);

    const [event] = await events();
    expect(event).toMatchObject({ kind: 'alarm', source: 'alertmanager', action: 'reverted', rollout_id: id, from_version: '2.0.0', to_version: '1.0.0', hosts: 1 });
    expect(JSON.parse(event!.summary_json)).toMatchObject({ receiver: 'flotilla', firing: 1, alertnames: ['HighErrorRate'] });

    // The version is bad now: rolling it out again needs --force.
    const refused = await cli(['rollout', 'start', 'demo@2.0.0', ...FAST], 1);
    expect(refused.stderr).toMatch(/^error: demo@2\.0\.0 is marked bad \(alarm:alertmanager, .*\); pass --force to roll it out all the same\n$/);
    expect((await json<GetStatusResponse__Output>(['status', 'demo'])).apps[0]?.bad_versions).toEqual(['2.0.0']);
  });

  it('an alert mid-rollout, after two batches, reverts every host the rollout touched', async () => {
    await fleet.push('3.0.0');
    const before = await seqs();
    // The canary and the second step go at once; then a minute's bake holds the third.
    const id = await start('3.0.0', '--canary-bake', '0s', '--bake', '1m');
    const baking = await fleet.waitForRollout(id, 'baking after two steps', (r) => r.status === 'baking' && r.current_step === 1);
    const touched = [...baking.steps[0]!.host_ids, ...baking.steps[1]!.host_ids];
    const untouched = baking.steps[2]!.host_ids[0]!;
    for (const h of touched) expect((await fleet.answer(fleet.indexOf(h)))?.version).toBe('3.0.0');

    const reply = await postAlert(fleet.controller.http, '/v1/alerts', { app: 'demo', reason: 'p99 latency over 2s', source: 'grafana' }, TOKEN);
    expect(reply.status).toBe(202);
    expect(reply.body).toMatchObject({ source: 'webhook:grafana', apps: [{ app: 'demo', action: 'reverted', rolloutId: id, toVersion: '1.0.0' }] });
    await fleetOn('1.0.0');
    const rollout = await fleet.rollout({ id });
    expect(rollout.status).toBe('reverted');
    expect(rollout.hosts.filter((h) => h.state === 'reverted').map((h) => h.host_id).sort()).toEqual([...touched].sort());
    const after = await seqs();
    for (const h of touched) expect(after.get(h), h).toBe(before.get(h)! + 2);
    expect(after.get(untouched)).toBe(before.get(untouched));
  });

  it('inside the watch window after completion, an alert sends the whole fleet back to the previous stable version', async () => {
    await fleet.push('4.0.0');
    const id = await start('4.0.0');
    await fleet.waitForRollout(id, 'succeeded', (r) => r.status === 'succeeded');
    await fleetOn('4.0.0');
    let history = await json<GetHistoryResponse__Output>(['history', 'demo']);
    expect(history).toMatchObject({ stable_version: '4.0.0', previous_stable_version: '1.0.0' });
    const before = await seqs();

    const sent = Date.now();
    const reply = await fireAlertmanager(fleet.controller.http, TOKEN, 'demo', { alertname: 'LatencyHigh' });
    expect(reply.body.apps).toEqual([expect.objectContaining({ action: 'reverted', rolloutId: id, toVersion: '1.0.0' })]);
    await fleetOn('1.0.0');
    console.log(`[measure] watch-window revert of 3 hosts: ${Date.now() - sent} ms from the webhook to every host serving 1.0.0 healthy`);

    const after = await seqs();
    for (const [host, seq] of before) expect(after.get(host), host).toBe(seq + 1);
    history = await json<GetHistoryResponse__Output>(['history', 'demo']);
    expect(history.stable_version).toBe('1.0.0');
    expect(history.versions.find((v) => v.version === '4.0.0')).toMatchObject({ bad: true, bad_by: 'alarm:alertmanager' });
    expect(history.events[0]).toMatchObject({ source: 'alertmanager', action: 'reverted', rollout_id: id, hosts: 3 });
    const text = (await cli(['history', 'demo'])).stdout;
    expect(text).toMatch(/\nALARMS, ROLLBACKS AND FAILED STEPS \(newest first\)\n/);
    expect(text).toMatch(/alarm\s+alertmanager\s+reverted\s+4\.0\.0 -> 1\.0\.0\s+3\s+demo-\d+-[a-z]{7}\s+LatencyHigh/);
  });

  it('outside the watch window an alert is recorded and changes nothing', async () => {
    await fleet.push('5.0.0');
    const id = await start('5.0.0', '--watch-window', '1s');
    const done = await fleet.waitForRollout(id, 'succeeded', (r) => r.status === 'succeeded');
    await fleetOn('5.0.0');
    await waitUntil('the watch window to pass', () => Date.now() > Number(done.finished_at_ms) + 1500, { timeoutMs: 10_000, intervalMs: 100 });
    const before = await seqs();
    const reply = await fireAlertmanager(fleet.controller.http, TOKEN, 'demo');
    expect(reply.body.apps).toEqual([
      expect.objectContaining({ action: 'recorded', message: expect.stringMatching(/^outside the watch window of rollout demo-\d+-[a-z]{7} .*recorded only/) }),
    ]);
    expect(await seqs()).toEqual(before);
    expect(await answers()).toEqual(['5.0.0', '5.0.0', '5.0.0']);
    expect((await events())[0]).toMatchObject({ action: 'recorded', hosts: 0 });
  });

  it('20 concurrent alerts, Alertmanager and generic, revert once: one new assignment per host', async () => {
    await fleet.push('6.0.0');
    const id = await start('6.0.0');
    await fleet.waitForRollout(id, 'succeeded', (r) => r.status === 'succeeded');
    await fleetOn('6.0.0');
    const before = await seqs();
    const eventsBefore = (await events()).length;
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0
          ? fireAlertmanager(fleet.controller.http, TOKEN, 'demo', { instance: `demo-${i}:9100` })
          : postAlert(fleet.controller.http, '/v1/alerts', { app: 'demo', reason: `storm ${i}` }, TOKEN),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(202));
    const actions = replies.map((r) => r.body.apps?.[0]?.action);
    expect(actions.filter((a) => a === 'reverted')).toHaveLength(1);
    expect(actions.filter((a) => a === 'already-reverting')).toHaveLength(19);
    await fleetOn('5.0.0');
    const after = await seqs();
    for (const [host, seq] of before) expect(after.get(host), host).toBe(seq + 1);
    const stored = (await events()).slice(0, 20);
    expect((await events()).length - eventsBefore).toBe(20);
    expect(stored.filter((e) => e.action === 'reverted')).toHaveLength(1);
    expect(new Set(stored.map((e) => e.revert_id))).toEqual(new Set([stored.find((e) => e.action === 'reverted')!.revert_id]));
  });

  it('refuses what it must before changing anything: wrong token, unknown app', async () => {
    const before = await seqs();
    expect((await fireAlertmanager(fleet.controller.http, 'not-the-token-at-all', 'demo')).status).toBe(401);
    const unknown = await fireAlertmanager(fleet.controller.http, TOKEN, 'ghost');
    expect(unknown).toMatchObject({ status: 404, body: { unknownApps: ['ghost'] } });
    expect(await seqs()).toEqual(before);
  });
});
