import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from './controller-process.js';
import { Fleet } from './fleet.js';

// The agent's download cache does not grow with every release ever deployed: with the default
// retention (3 tarballs, 2 GiB) a host that has run five versions keeps three tarballs, among
// them those of the releases it may fall back on, and a rollback still needs no download.

async function cached(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'cache'))).filter((n) => n.endsWith('.tar.gz')).sort();
}

describe("the agent's download cache", () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: 1, heartbeatInterval: '500ms' });
    await waitUntil('the host up', async () => (await fleet.hosts()).some((h) => h.state === 'up'), { timeoutMs: 30_000, intervalMs: 200 });
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('keeps three tarballs after five deploys, and a rollback to the previous version still works', async () => {
    const shas: string[] = [];
    for (const version of ['1.0.0', '2.0.0', '3.0.0', '4.0.0', '5.0.0']) {
      const push = await fleet.cli(['artifact', 'push', await fleet.release(version), '--app', 'demo', '--version', version, '--key', fleet.releaseKey.keyPath]);
      expect(push.code, push.stderr).toBe(0);
      shas.push(/[0-9a-f]{64}/.exec(push.stdout)?.[0] ?? '');
      const deploy = await fleet.cli(['deploy', `demo@${version}`, '--wait-timeout', '60s']);
      expect(deploy.code, `${deploy.stdout}${deploy.stderr}\n${fleet.diagnostics()}`).toBe(0);
    }
    const dataDir = fleet.agents[0]!.dataDir;
    const left = await cached(dataDir);
    expect(left).toHaveLength(3);
    // The running release's and the previous one's bytes are among them.
    expect(left).toContain(`${shas[4]}.tar.gz`);
    expect(left).toContain(`${shas[3]}.tar.gz`);
    expect(left).not.toContain(`${shas[0]}.tar.gz`);

    const back = await fleet.cli(['rollback', 'demo', '--yes']);
    expect(back.code, `${back.stdout}${back.stderr}`).toBe(0);
    await waitUntil('the host back on 4.0.0', async () => (await fleet.answer(0))?.version === '4.0.0', { timeoutMs: 30_000, intervalMs: 100 });
  });
});
