import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rollout__Output } from '@flotilla/proto';
import { leaderOf, startClusterFleet, type ClusterFleet } from './cluster-scenarios.js';
import { controllerClients, downloadArtifact, releaseTarball, sha256Hex, waitUntil } from './controller-process.js';
import { deadlineFlag } from './deadline.js';
import { CLI_MAIN } from './fleet.js';
import { cleanEnv, spawnChild } from './spawn.js';

// The CLI given every controller's address, while the controller it is using is SIGKILLed in the
// middle of an upload and of a watch: it carries on with another one.
let plane: ClusterFleet;

beforeAll(async () => {
  plane = await startClusterFleet({ stable: '1.0.0', controllers: 3 });
});

afterAll(async () => {
  await plane?.fleet.stop();
});

/** `flotilla ARGS` as a process with every controller's address, the first one first. */
function cliOverAll(args: string[]) {
  const { fleet } = plane;
  return spawnChild({
    what: 'flotilla',
    command: process.execPath,
    args: [CLI_MAIN, ...args],
    env: { ...cleanEnv(), ...fleet.cliEnv, FLOTILLA_CONTROLLER: fleet.controllers.map((c) => c.grpc).join(',') },
    cwd: fleet.dir,
  });
}

describe('the CLI over several controllers', () => {
  it('pushes a release again to another controller when the one receiving it dies mid-way', async () => {
    const { fleet } = plane;
    const first = fleet.controllers[0]!;
    const payload = randomBytes(24 * 1024 * 1024).toString('base64');
    const bytes = await releaseTarball(fleet.dir, { files: { 'payload.bin': payload } });
    const file = join(fleet.dir, 'big-1.0.0.tar.gz');
    await writeFile(file, bytes);
    const push = cliOverAll(['artifact', 'push', file, '--app', 'big', '--version', '1.0.0', '--key', fleet.releaseKey.keyPath, '--json']);
    // The first controller has the upload under way once its temporary file exists.
    const artifactsDir = join(first.dataDir, 'artifacts');
    await waitUntil('the upload to be under way on the first controller', async () => (await readdir(artifactsDir)).some((n) => n.startsWith('.upload-')), {
      timeoutMs: 60_000,
      intervalMs: 10,
    });
    await first.stop('SIGKILL');
    const exit = await push.exited;
    expect(exit.code, push.output()).toBe(0);
    expect(push.output()).toContain(sha256Hex(bytes));
    // Cut off on the first controller, sent again to another.
    expect(push.output()).toMatch(new RegExp(`warning: cannot reach the controller at ${first.grpc}.*; sending the upload again, whole, to 127`));

    // One record, and the same bytes from every controller still running.
    const survivors = fleet.controllers.filter((c) => c !== first);
    fleet.useController(await leaderOf(fleet, survivors));
    const listed = (await fleet.json<{ artifacts: { app: string; version: string; sha256: string }[] }>(['artifact', 'list', '--app', 'big'])).artifacts;
    expect(listed.map((a) => `${a.app}@${a.version}:${a.sha256}`)).toEqual([`big@1.0.0:${sha256Hex(bytes)}`]);
    for (const c of survivors) {
      const clients = controllerClients(c.grpc);
      try {
        const got = await downloadArtifact(clients.artifacts, sha256Hex(bytes));
        expect(got.data.equals(bytes)).toBe(true);
      } finally {
        clients.close();
      }
    }
    await fleet.restartFleetController(first);
  });

  it('watches a rollout on to its end through another controller when the watched one dies', async () => {
    const { fleet } = plane;
    fleet.useController(fleet.controllers[1]!);
    await fleet.push('2.0.0');
    const start = await fleet.run([
      'rollout', 'start', 'demo@2.0.0',
      '--canary', '1', '--batch', '1', '--min-healthy-time', '1s', '--bake', '2s', '--canary-bake', '1s',
      '--healthy-deadline', deadlineFlag(60), '--json',
    ]);
    const id = (JSON.parse(start.stdout) as { rollout: Rollout__Output }).rollout.id;
    const watch = cliOverAll(['rollout', 'status', id, '--watch']);
    // Watching through the first controller: it has printed the rollout.
    await waitUntil('the watch to print the rollout', async () => watch.output().includes('step'), { timeoutMs: 60_000, intervalMs: 20 });
    await fleet.waitForRollout(id, 'the second step', (r) => r.current_step >= 1);
    const first = fleet.controllers[0]!;
    await first.stop('SIGKILL');
    const exit = await watch.exited;
    const out = watch.output();
    expect(exit.code, out).toBe(0);
    expect(out).toMatch(/warning: cannot reach the controller at .*; watching again/);

    // Every entry of the rollout's log printed once, as many times as the log holds it.
    const done = await fleet.rollout({ id });
    expect(done.status).toBe('succeeded');
    const lines = out.split('\n');
    for (const e of done.log) {
      const inLog = done.log.filter((x) => x.message === e.message).length;
      const printed = lines.filter((l) => l.startsWith('+') && l.endsWith(` ${e.message}`)).length;
      expect(printed, `"${e.message}" in\n${out}`).toBe(inLog);
    }
    await fleet.restartFleetController(first);
  });
});
