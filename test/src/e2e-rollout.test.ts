import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetHistoryResponse__Output, GetStatusResponse__Output, Rollout__Output } from '@flotilla/proto';
import { unaryCall } from './controller-process.js';
import { deadlineFlag, waitUntil } from './deadline.js';
import { Fleet, type CliResult } from './fleet.js';

// Rollouts end to end: a real nats-server, controller and three agents running the demo app,
// the CLI as a process. Short gates (healthy for 1s, heartbeats every 500ms) keep it quick; every
// wait is on a condition, bounded.

/** Canary of one, then batches of one: three steps on three hosts. */
const FAST = ['--canary', '1', '--batch', '1', '--min-healthy-time', '1s'];

let fleet: Fleet;

const cli = (args: string[], expected = 0): Promise<CliResult> => fleet.run(args, expected);
const answers = () => fleet.answers();

/** Starts a rollout (no watch) and returns its id. */
async function start(version: string, ...flags: string[]): Promise<string> {
  const r = await cli(['rollout', 'start', `demo@${version}`, ...FAST, ...flags, '--json']);
  return (JSON.parse(r.stdout) as { rollout: Rollout__Output }).rollout.id;
}

async function releasesOn(i: number): Promise<string[]> {
  return readdir(join(fleet.agents[i]!.dataDir, 'apps', 'demo', 'releases')).catch(() => []);
}

async function history(): Promise<GetHistoryResponse__Output> {
  return JSON.parse((await cli(['history', 'demo', '--json'])).stdout) as GetHistoryResponse__Output;
}

/**
 * Time from the canary's failure (the engine's failure time) until the canary reports the stable
 * version active, running and healthy: as the agent stamped that report, and as the controller
 * first showed it (polled every 20 ms).
 */
async function timeBackOnStable(rollout: Rollout__Output, stable: string): Promise<{ agentMs: number; seenMs: number }> {
  const canary = rollout.steps[0]!.host_ids[0]!;
  const status = await waitUntil(
    `${canary} back on ${stable}, running and healthy`,
    async () => {
      const r = await unaryCall<{ app: string }, GetStatusResponse__Output>(fleet.clients.control, 'GetStatus', { app: 'demo' });
      const app = r.hosts.find((h) => h.host_id === canary)?.apps.find((a) => a.app === 'demo');
      const back = app?.active_version === stable && app.process_state === 'running' && app.health === 'healthy';
      return back ? { app, seenAt: Date.now() } : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 20 },
  );
  const failedAt = Number(rollout.hosts.find((h) => h.host_id === canary)!.failed_at_ms);
  return { agentMs: Number(status.app!.updated_at_ms) - failedAt, seenMs: status.seenAt - failedAt };
}

beforeAll(async () => {
  // The first release, deployed everywhere: its success makes it the stable version.
  fleet = await Fleet.startDeployed({ agents: 3, heartbeatInterval: '500ms', stable: '1.0.0' });
});

afterAll(async () => {
  await fleet?.stop();
});

describe('rollouts across a real fleet', () => {
  it('walks a good version canary → batches → stable, one step after the other', async () => {
    await fleet.push('2.0.0');
    const r = await cli(['rollout', 'start', 'demo@2.0.0', ...FAST, '--healthy-deadline', deadlineFlag(30), '--watch']);
    expect(r.stdout).toMatch(/canary started: 1 host\(s\)/);
    expect(r.stdout).toMatch(/step 3 of 3 started: 1 host\(s\)/);
    expect(r.stdout).toMatch(/rollout demo-\d+-[a-z]{7} succeeded: demo@2\.0\.0 reached every host and is now stable\n$/);

    const rollout = await fleet.rollout({ app: 'demo' });
    expect(rollout.status).toBe('succeeded');
    // Each step started only once the one before it had passed.
    for (let i = 1; i < rollout.steps.length; i++) {
      expect(Number(rollout.steps[i]!.started_at_ms)).toBeGreaterThanOrEqual(Number(rollout.steps[i - 1]!.passed_at_ms));
    }
    expect(rollout.hosts.map((h) => h.state)).toEqual(['passed', 'passed', 'passed']);
    expect(await answers()).toEqual(['2.0.0', '2.0.0', '2.0.0']);

    const h = await history();
    expect(h.stable_version).toBe('2.0.0');
    expect(h.versions.find((v) => v.version === '1.0.0')?.stable_periods[0]?.until_ms).not.toBe('0');
    expect(h.rollouts[0]).toMatchObject({ id: rollout.id, version: '2.0.0', status: 'succeeded', stable_version: '1.0.0' });
  });

  it('stops a version whose health check fails at the canary and puts the canary back on stable', async () => {
    await fleet.push('3.0.0', 'unhealthy');
    const seqsBefore = new Map((await fleet.hosts()).map((h) => [h.host_id, h.assignment_seq]));
    const r = await cli(['rollout', 'start', 'demo@3.0.0', ...FAST, '--healthy-deadline', '4s', '--watch'], 1);
    expect(r.stderr).toMatch(/error: rollout demo-\d+-[a-z]{7} reverted: 1 host\(s\) failed, more than the 0 tolerated: host-\d \(health check failing on 3\.0\.0: GET http:\/\/127\.0\.0\.1:\d+\/healthz answered 500\)/);

    const rollout = await fleet.rollout({ app: 'demo' });
    const canary = rollout.steps[0]!.host_ids[0]!;
    const canaryIndex = fleet.indexOf(canary);
    const measured = await timeBackOnStable(rollout, '2.0.0');
    console.log(`[measure] unhealthy canary back on stable: ${measured.agentMs} ms (agent's report), ${measured.seenMs} ms (seen by the controller)`);
    // The canary serves the stable version again, from the release still on disk.
    await waitUntil('the canary serving 2.0.0', async () => (await fleet.answer(canaryIndex))?.version === '2.0.0', { timeoutMs: 15_000, intervalMs: 50 });
    expect(rollout.hosts.find((h) => h.host_id === canary)).toMatchObject({ state: 'reverted' });
    // The other hosts never got the version: no new assignment, nothing unpacked.
    for (const [i, a] of fleet.agents.entries()) {
      if (a.hostId === canary) continue;
      expect((await fleet.hosts()).find((h) => h.host_id === a.hostId)?.assignment_seq).toBe(seqsBefore.get(a.hostId));
      expect(await releasesOn(i)).not.toContain('3.0.0');
      expect((await fleet.answer(i))?.version).toBe('2.0.0');
    }
    expect((await history()).stable_version).toBe('2.0.0');
  });

  it('stops a version that crashes on start at the canary, likewise', async () => {
    await fleet.push('4.0.0', 'crash');
    const id = await start('4.0.0', '--healthy-deadline', deadlineFlag(30), '--max-restarts', '1');
    const rollout = await fleet.waitForRollout(id, 'reverted', (r) => r.status === 'reverted', 45_000);
    const canary = rollout.steps[0]!.host_ids[0]!;
    expect(rollout.hosts.find((h) => h.host_id === canary)?.failure_reason).toMatch(/crash-looping: \d+ restart\(s\), more than 1 allowed/);
    const measured = await timeBackOnStable(rollout, '2.0.0');
    console.log(`[measure] crashing canary back on stable: ${measured.agentMs} ms (agent's report), ${measured.seenMs} ms (seen by the controller)`);
    expect((await fleet.answer(fleet.indexOf(canary)))?.version).toBe('2.0.0');
    expect(rollout.hosts.filter((h) => h.host_id !== canary).map((h) => h.state)).toEqual(['pending', 'pending']);
    const status = await cli(['rollout', 'status', id]);
    expect(status.stdout).toMatch(/crash-looping/);
    expect(status.stdout).toMatch(/EVENTS\n/);
  });

  it('each failed step reverted under one revert record, shown in flotilla events and in its rollout status', async () => {
    // The two rollouts above whose canary failed: 4.0.0 (crash loop), then 3.0.0 (health), newest first.
    const failed = (await fleet.events()).filter((e) => e.kind === 'failed-step');
    expect(failed.map((e) => [e.source, e.action, e.from_version, e.to_version, e.hosts])).toEqual([
      ['engine', 'reverted', '4.0.0', '2.0.0', 1],
      ['engine', 'reverted', '3.0.0', '2.0.0', 1],
    ]);
    // The reason is the one the rollout ended with.
    for (const e of failed) expect(e.reason).toBe((await fleet.rollout({ id: e.rollout_id })).end_reason);
    expect(failed[0]!.reason).toMatch(/crash-looping/);
    // One record each: two distinct revert ids, each naming its own rollout.
    expect(new Set(failed.map((e) => e.revert_id)).size).toBe(2);
    const crashed = failed[0]!.rollout_id;
    expect((await fleet.rollout({ id: crashed })).status).toBe('reverted');
    const text = (await cli(['rollout', 'status', crashed])).stdout;
    expect(text).toMatch(/failed-step\s+engine\s+reverted\s+4\.0\.0 -> 2\.0\.0\s+1\s/);
    expect((await cli(['events', '--app', 'demo'])).stdout).toMatch(/failed-step\s+engine\s+reverted\s+3\.0\.0 -> 2\.0\.0\s+1\s/);
  });

  it('pauses and resumes; refuses promote while running; waits after the canary for promote', async () => {
    await fleet.push('5.0.0');
    // A canary that needs a minute to pass: every command below meets a rollout that is running.
    const slow = await start('5.0.0', '--min-healthy-time', '1m', '--healthy-deadline', '2m');
    const refused = await cli(['rollout', 'promote', slow], 1);
    expect(refused.stderr).toBe(`error: rollout ${slow} is not paused (it is running): nothing to promote\n`);
    expect((await cli(['rollout', 'pause', slow])).stdout).toBe(`rollout ${slow}: paused, canary (step 1 of 3)\n`);
    expect((await cli(['rollout', 'pause', slow], 1)).stderr).toBe(`error: rollout ${slow} is already paused\n`);
    expect((await cli(['rollout', 'resume', slow])).stdout).toBe(`rollout ${slow}: running, canary (step 1 of 3)\n`);
    await cli(['rollout', 'abort', slow]);
    await fleet.waitForRollout(slow, 'reverted', (r) => r.status === 'reverted');

    const id = await start('5.0.0', '--pause-after-canary', '--healthy-deadline', deadlineFlag(30));
    const gate = await fleet.waitForRollout(id, 'waiting after the canary', (r) => r.status === 'paused' && r.pause_reason === 'canary');
    expect(gate.steps[1]!.started_at_ms).toBe('0');
    const resume = await cli(['rollout', 'resume', id], 1);
    expect(resume.stderr).toBe(`error: rollout ${id} is waiting after its canary: use promote to continue\n`);
    expect((await cli(['rollout', 'promote', id])).stdout).toMatch(new RegExp(`^rollout ${id}: running, step 2 of 3\n`));
    const watched = await cli(['rollout', 'status', id, '--watch']);
    expect(watched.stdout).toMatch(/step 3 of 3 started/);
    const done = await fleet.rollout({ id });
    expect(done.status).toBe('succeeded');
    expect(done.log.filter((e) => e.actor.startsWith('operator:')).map((e) => e.kind)).toEqual(['started', 'promoted']);
    expect(await answers()).toEqual(['5.0.0', '5.0.0', '5.0.0']);
    const slowRollout = await fleet.rollout({ id: slow });
    expect(slowRollout.log.filter((e) => e.actor.startsWith('operator:')).map((e) => e.kind)).toEqual(['started', 'paused', 'resumed', 'revert-started', 'reverted']);
  });

  it('abort reverts the hosts it touched; abort --no-revert leaves them', async () => {
    await fleet.push('6.0.0');
    const first = await start('6.0.0', '--pause-after-canary', '--healthy-deadline', deadlineFlag(30));
    const paused = await fleet.waitForRollout(first, 'waiting after the canary', (r) => r.status === 'paused');
    const canary = fleet.indexOf(paused.steps[0]!.host_ids[0]!);
    expect((await fleet.answer(canary))?.version).toBe('6.0.0');
    const aborted = await cli(['rollout', 'abort', first]);
    expect(aborted.stdout).toMatch(new RegExp(`rollout ${first}: (reverted|reverting to 5\\.0\\.0)`));
    await waitUntil('the canary back on 5.0.0', async () => (await fleet.answer(canary))?.version === '5.0.0', { timeoutMs: 15_000, intervalMs: 50 });
    expect((await fleet.waitForRollout(first, 'reverted', (r) => r.status === 'reverted')).ended_by).toMatch(/^operator:/);

    const second = await start('6.0.0', '--pause-after-canary', '--healthy-deadline', deadlineFlag(30));
    const again = await fleet.waitForRollout(second, 'waiting after the canary', (r) => r.status === 'paused');
    const canary2 = fleet.indexOf(again.steps[0]!.host_ids[0]!);
    const kept = await cli(['rollout', 'abort', second, '--no-revert']);
    expect(kept.stdout).toMatch(new RegExp(`rollout ${second}: aborted\\n  aborted by .*; hosts left as they are`));
    expect((await fleet.answer(canary2))?.version).toBe('6.0.0');

    const list = await cli(['rollout', 'list', '--app', 'demo']);
    expect(list.stdout).toMatch(new RegExp(`\\n${second}\\s+demo@6\\.0\\.0\\s+aborted`));
    expect(list.stdout).toMatch(new RegExp(`\\n${first}\\s+demo@6\\.0\\.0\\s+reverted`));
    const text = (await cli(['history', 'demo'])).stdout;
    expect(text).toMatch(/^demo: stable 5\.0\.0 since /);
    expect(text).toMatch(/\n6\.0\.0\s+\S+ ago\s+-\s+-\n/);
  });
});
