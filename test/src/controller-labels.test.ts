import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListHostsResponse__Output } from '@flotilla/proto';
import { controllerTestDir, FakeHost, unaryCall, waitUntil } from './controller-process.js';
import { ControllerFixture } from './controller-fixture.js';
import { runCli } from './fleet.js';

// Label pinning against a real controller: the operator gives web-01 env=prod in the controller's
// config and pins the `env` key; web-02 claims env=prod too, and is not believed.

let dir: string;
let fixture: ControllerFixture;
const hosts: FakeHost[] = [];

beforeAll(async () => {
  dir = await controllerTestDir('labels');
  const config = join(dir, 'controller.yaml');
  await writeFile(config, ['hosts:', '  pinnedLabelKeys: [env]', '  labels:', '    web-01: { env: prod }', ''].join('\n'));
  fixture = await ControllerFixture.start({ dir, args: ['--config', config] });
});

afterAll(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  await fixture?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const listHosts = async (selector: string) =>
  (await unaryCall<{ selector: string }, ListHostsResponse__Output>(fixture.clients.control, 'ListHosts', { selector })).hosts;

describe('pinned labels', () => {
  it('selects only the host the operator gave a pinned label, and shows the claim it refused', async () => {
    for (const [id, labels] of [
      ['web-01', { env: 'prod', zone: 'a' }],
      ['web-02', { env: 'prod', zone: 'b' }],
    ] as const) {
      const h = await FakeHost.connect(fixture.nats.url, id, { labels: { ...labels }, heartbeatIntervalMs: 500 });
      hosts.push(h);
      h.announce();
      h.startHeartbeats();
    }
    await waitUntil('both hosts registered', async () => (await listHosts('')).length === 2, { timeoutMs: 20_000, intervalMs: 100 });

    expect((await listHosts('env=prod')).map((h) => h.host_id)).toEqual(['web-01']);
    // Labels it was not pinned on still count as the host says.
    expect((await listHosts('zone=b')).map((h) => h.host_id)).toEqual(['web-02']);
    const web02 = (await listHosts('')).find((h) => h.host_id === 'web-02');
    expect(web02?.labels).toEqual({ zone: 'b' });
    expect(web02?.refused_labels).toEqual({ env: 'prod' });

    const cli = await runCli(['hosts'], { controller: fixture.controller.grpc });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^web-01\s+up\s+env=prod,zone=a\s/m);
    expect(cli.stdout).toMatch(/^web-02\s+up\s+zone=b,!env=prod\s/m);
  });
});
