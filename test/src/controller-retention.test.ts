import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactInfo__Output, CollectArtifactsResponse__Output } from '@flotilla/proto';
import { deadlineFlag, waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';

// Artifact retention with real parts: nats-server, the controller, two agents running the demo
// app, and the CLI as a process. The controller keeps the newest 3 unprotected versions per app.

const VERSIONS = Array.from({ length: 12 }, (_, i) => `1.0.${i + 1}`);

async function onDisk(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

describe('artifact retention', () => {
  let fleet: Fleet;
  /** SHA-256 of each pushed version. */
  const sha = new Map<string, string>();
  const blob = (version: string) => join(fleet.controller.dataDir, 'artifacts', `${sha.get(version)}.tar.gz`);
  const hostB = () => fleet.agents[1]?.hostId as string;

  beforeAll(async () => {
    fleet = await Fleet.start({
      agents: 2,
      heartbeatInterval: '500ms',
      controllerConfig: 'artifacts:\n  keepVersions: 3\n  gcInterval: 0\n',
    });
    await fleet.waitForHostsUp();
    for (const v of VERSIONS) await fleet.push(v);
    const { artifacts } = await fleet.json<{ artifacts: ArtifactInfo__Output[] }>(['artifact', 'list', '--app', 'demo']);
    for (const a of artifacts) sha.set(a.version, a.sha256);
    // 1.0.2 everywhere, then 1.0.3 and 1.0.4 on zone a only: host b stays assigned 1.0.2, which
    // is then neither stable (1.0.4) nor previous stable (1.0.3).
    for (const [version, selector] of [['1.0.2', ''], ['1.0.3', 'zone=a'], ['1.0.4', 'zone=a']] as const) {
      await fleet.run(['deploy', `demo@${version}`, ...(selector ? ['--selector', selector] : []), '--wait-timeout', deadlineFlag(60)]);
    }
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('gc --dry-run lists exactly the unprotected versions beyond the newest 3, says why the rest stay, and deletes nothing', async () => {
    expect(sha.size).toBe(12);
    const plan = await fleet.json<CollectArtifactsResponse__Output>(['artifact', 'gc', '--dry-run']);
    expect(plan.dry_run).toBe(true);
    expect(plan.removed.map((a) => a.version)).toEqual(['1.0.9', '1.0.8', '1.0.7', '1.0.6', '1.0.5', '1.0.1']);
    expect(Object.fromEntries(plan.kept.map((k) => [k.artifact?.version, k.protected_by]))).toEqual({
      '1.0.12': [],
      '1.0.11': [],
      '1.0.10': [],
      '1.0.4': ['stable', `assigned to host ${fleet.agents[0]?.hostId}`],
      '1.0.3': ['previous stable'],
      '1.0.2': [`assigned to host ${hostB()}`],
    });
    const text = await fleet.run(['artifact', 'gc', '--dry-run', '--app', 'demo']);
    expect(text.stdout).toMatch(/\ndemo\s+1\.0\.2\s+\S+\s+\S+ \S+\s+keep\s+assigned to host host-2\n/);
    expect(text.stdout).toMatch(/\ndry run: would remove 6 versions, freeing \S+ \S+; nothing was deleted\n$/);
    for (const v of VERSIONS) expect(await onDisk(blob(v)), v).toBe(true);
  });

  it('rm refuses a protected version with the reason, --force or not, and a recent one without --force', async () => {
    const assigned = await fleet.run(['artifact', 'rm', 'demo@1.0.2', '--force'], 1);
    expect(assigned.stderr).toBe(`error: demo@1.0.2 is protected and cannot be removed: it is assigned to host ${hostB()}\n`);
    const previous = await fleet.run(['artifact', 'rm', 'demo@1.0.3'], 1);
    expect(previous.stderr).toBe('error: demo@1.0.3 is protected and cannot be removed: it is previous stable\n');
    const stable = await fleet.run(['artifact', 'rm', 'demo@1.0.4', '--force'], 1);
    expect(stable.stderr).toMatch(/^error: demo@1\.0\.4 is protected and cannot be removed: it is stable; assigned to host host-1\n$/);
    const recent = await fleet.run(['artifact', 'rm', 'demo@1.0.12'], 1);
    expect(recent.stderr).toMatch(/one of the newest 3 versions of demo .*pass --force/);
    for (const v of ['1.0.2', '1.0.3', '1.0.4', '1.0.12']) expect(await onDisk(blob(v)), v).toBe(true);
  });

  it('gc deletes them: records gone from the list, bytes gone from disk, the protected and newest kept', async () => {
    const done = await fleet.json<CollectArtifactsResponse__Output>(['artifact', 'gc']);
    expect(done.removed.map((a) => a.version).sort()).toEqual(['1.0.1', '1.0.5', '1.0.6', '1.0.7', '1.0.8', '1.0.9']);
    const { artifacts } = await fleet.json<{ artifacts: ArtifactInfo__Output[] }>(['artifact', 'list', '--app', 'demo']);
    expect(artifacts.map((a) => a.version)).toEqual(['1.0.2', '1.0.3', '1.0.4', '1.0.10', '1.0.11', '1.0.12']);
    for (const v of ['1.0.1', '1.0.5', '1.0.6', '1.0.7', '1.0.8', '1.0.9']) expect(await onDisk(blob(v)), v).toBe(false);
    for (const v of ['1.0.2', '1.0.3', '1.0.4', '1.0.10', '1.0.11', '1.0.12']) expect(await onDisk(blob(v)), v).toBe(true);
    const again = await fleet.run(['artifact', 'gc']);
    expect(again.stdout).toMatch(/\nnothing to remove: every version is protected or among the newest 3 of its app\n$/);
  });

  it('a deleted version cannot be deployed: NotFound naming the versions there are', async () => {
    const r = await fleet.run(['deploy', 'demo@1.0.5', '--no-wait'], 1);
    expect(r.stderr).toBe('error: app "demo" has no artifact for version "1.0.5" (known versions: 1.0.2, 1.0.3, 1.0.4, 1.0.10, 1.0.11, 1.0.12)\n');
  });

  it('rm --force removes a recent unprotected version, record and bytes', async () => {
    const r = await fleet.run(['artifact', 'rm', 'demo@1.0.12', '--force']);
    expect(r.stdout).toMatch(/^removed demo@1\.0\.12 \(\S+ \S+ freed\)\n$/);
    expect(await onDisk(blob('1.0.12'))).toBe(false);
    const { artifacts } = await fleet.json<{ artifacts: ArtifactInfo__Output[] }>(['artifact', 'list', '--app', 'demo']);
    expect(artifacts.map((a) => a.version)).not.toContain('1.0.12');
    const gone = await fleet.run(['artifact', 'rm', 'demo@1.0.12'], 1);
    expect(gone.stderr).toMatch(/^error: app "demo" has no artifact for version "1\.0\.12"/);
  });
});

describe('periodic artifact collection', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: 0, controllerConfig: 'artifacts:\n  keepVersions: 1\n  gcInterval: 1s\n' });
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('removes what keepVersions lets go on its own, records and bytes', async () => {
    // The bytes' SHA-256 from the files pushed: a collection may already run between pushes.
    const pushed = new Map<string, string>();
    for (const v of ['2.0.1', '2.0.2', '2.0.3']) pushed.set(v, createHash('sha256').update(await readFile(await fleet.push(v))).digest('hex'));
    const listed = async () => (await fleet.json<{ artifacts: ArtifactInfo__Output[] }>(['artifact', 'list', '--app', 'demo'])).artifacts;
    await waitUntil('the controller to collect on its own', async () => (await listed()).length === 1, { timeoutMs: 30_000, intervalMs: 200 });
    expect((await listed()).map((a) => a.version)).toEqual(['2.0.3']);
    for (const [version, sha256] of pushed) {
      expect(await onDisk(join(fleet.controller.dataDir, 'artifacts', `${sha256}.tar.gz`)), version).toBe(version === '2.0.3');
    }
  });
});
