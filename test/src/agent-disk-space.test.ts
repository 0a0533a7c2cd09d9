import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetStatusResponse__Output } from '@flotilla/proto';
import { AgentProcess } from './agent-process.js';
import { waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';

// The agent's free-space floor with real parts: an agent told to keep 99.99% of its disk free
// cannot start any download; it says so in its status, downloads nothing, and installs the
// release once it runs without that floor.

describe('the agent checks free space before a download', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: 1, heartbeatInterval: '500ms', startAgents: false });
    const a = fleet.agents[0];
    if (!a) throw new Error('no agent');
    a.process = AgentProcess.spawn({
      hostId: a.hostId,
      natsUrl: fleet.nats.url,
      dataDir: a.dataDir,
      controller: fleet.controller.grpc,
      trustedKeys: [fleet.releaseKey.pubPath],
      controllerPublicKeys: [fleet.controllerKey.pubPath],
      appEnv: [`demo:PORT=${a.port}`],
      labels: a.labels,
      heartbeatInterval: '500ms',
      env: { FLOTILLA_MIN_FREE_SPACE: '99.99%' },
    });
    await fleet.waitForHostsUp(1);
    await fleet.push('1.0.0');
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('reports a transient install failure naming the sizes, and downloads nothing', async () => {
    await fleet.run(['deploy', 'demo@1.0.0', '--no-wait']);
    const app = await waitUntil(
      'the host to report why it cannot download',
      async () => {
        const status = await fleet.json<GetStatusResponse__Output>(['status', 'demo']);
        const a = status.hosts[0]?.apps.find((x) => x.app === 'demo');
        return a?.error ? a : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const cache = join(fleet.agents[0]?.dataDir as string, 'cache');
    const size = '[\\d.]+ (?:B|KiB|MiB|GiB|TiB)';
    expect(app.error).toMatch(
      new RegExp(
        `^attempt \\d+ failed; retrying at \\S+: not enough free space in ${cache}: ${size} needed plus a floor of ${size} kept free, but only ${size} is free \\(free ${size} more\\)$`,
      ),
    );
    expect(app.install_phase).toBe('downloading');
    expect(app.active_version).toBe('');
    expect((await readdir(cache)).filter((n) => n.endsWith('.tar.gz') || n.includes('partial'))).toEqual([]);
  });

  it('installs the release once the agent runs without that floor', async () => {
    await fleet.agents[0]?.process?.stop();
    fleet.startAgent(0);
    await fleet.waitForFleetOn('1.0.0', 60_000);
  });
});
