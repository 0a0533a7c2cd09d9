import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followerOf, leaderOf, startClusterFleet, type ClusterFleet } from './cluster-scenarios.js';
import { controllerClients, downloadArtifact, refusal, waitUntil, type ControllerProcess } from './controller-process.js';

// Retention on a control plane of two controllers: what it deletes leaves the replicated object
// store and every controller's cache; what it protects stays everywhere.
let plane: ClusterFleet;

beforeAll(async () => {
  // One unprotected version kept per app; collection only on request.
  plane = await startClusterFleet({ stable: '1.0.0', config: ['artifacts:', '  keepVersions: 1', '  gcInterval: 0', ''].join('\n') });
});

afterAll(async () => {
  await plane?.fleet.stop();
});

/** Whether the releases object store holds bytes under `sha256`, asked of NATS directly. */
async function inObjectStore(sha256: string): Promise<boolean> {
  const nc = await connect({ servers: plane.cluster.urls.split(','), name: 'test-object-probe' });
  try {
    const os = await new Objm(nc).open('flotilla_releases');
    const info = await os.info(sha256);
    return info !== null && !info.deleted;
  } finally {
    await nc.close();
  }
}

const cached = async (c: ControllerProcess, sha256: string) =>
  access(join(c.dataDir, 'artifacts', `${sha256}.tar.gz`)).then(
    () => true,
    () => false,
  );

/** Downloads through `c` (filling its cache). */
async function fetchThrough(c: ControllerProcess, sha256: string): Promise<void> {
  const clients = controllerClients(c.grpc);
  try {
    await downloadArtifact(clients.artifacts, sha256);
  } finally {
    clients.close();
  }
}

async function shaOf(version: string): Promise<string> {
  const listed = await plane.fleet.json<{ artifacts: { version: string; sha256: string }[] }>(['artifact', 'list', '--app', 'demo']);
  const found = listed.artifacts.find((a) => a.version === version);
  if (!found) throw new Error(`demo@${version} is not listed`);
  return found.sha256;
}

describe('retention with several controllers', () => {
  it('deletes removed and collected releases from the object store and every cache, and keeps the protected ones', async () => {
    const { fleet } = plane;
    const leader = await leaderOf(fleet);
    const follower = await followerOf(fleet);
    fleet.useController(follower);
    for (const v of ['2.0.0', '3.0.0', '4.0.0']) await fleet.push(v);
    const sha = {
      stable: await shaOf('1.0.0'),
      two: await shaOf('2.0.0'),
      three: await shaOf('3.0.0'),
      four: await shaOf('4.0.0'),
    };
    for (const s of Object.values(sha)) for (const c of [leader, follower]) await fetchThrough(c, s);

    // Asked of the follower: handed to the leader, which deletes the bytes everywhere.
    const rm = await fleet.run(['artifact', 'rm', 'demo@2.0.0', '--force']);
    expect(rm.stdout).toMatch(/demo@2\.0\.0/);
    expect(await inObjectStore(sha.two)).toBe(false);
    for (const c of [leader, follower]) {
      await waitUntil(`${c.grpc} to drop its cached 2.0.0`, async () => !(await cached(c, sha.two)), { timeoutMs: 30_000, intervalMs: 50 });
      const clients = controllerClients(c.grpc);
      try {
        expect((await refusal(downloadArtifact(clients.artifacts, sha.two))).details).toMatch(/no (artifact|release)/i);
      } finally {
        clients.close();
      }
    }

    // The stable version is protected: refused, and its bytes stay.
    const refused = await fleet.cli(['artifact', 'rm', 'demo@1.0.0', '--force']);
    expect(refused.code, fleet.explain(refused)).not.toBe(0);
    expect(refused.stderr).toMatch(/protected/);

    // Collection keeps the stable one and the newest (4.0.0); 3.0.0 goes.
    const gc = await fleet.json<{ removed: { version: string }[] }>(['artifact', 'gc']);
    expect(gc.removed.map((a) => a.version)).toEqual(['3.0.0']);
    expect(await inObjectStore(sha.three)).toBe(false);
    for (const c of [leader, follower]) {
      await waitUntil(`${c.grpc} to drop its cached 3.0.0`, async () => !(await cached(c, sha.three)), { timeoutMs: 30_000, intervalMs: 50 });
    }
    for (const kept of [sha.stable, sha.four]) {
      expect(await inObjectStore(kept)).toBe(true);
      for (const c of [leader, follower]) expect(await cached(c, kept)).toBe(true);
    }
    const left = (await fleet.json<{ artifacts: { version: string }[] }>(['artifact', 'list', '--app', 'demo'])).artifacts.map((a) => a.version);
    expect(left.sort()).toEqual(['1.0.0', '4.0.0']);
    expect(await readdir(join(follower.dataDir, 'artifacts'))).toEqual(expect.arrayContaining([`${sha.stable}.tar.gz`, `${sha.four}.tar.gz`]));
  });
});
