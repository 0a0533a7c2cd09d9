import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from './agent-process.js';
import { CLUSTER_CONTROLLER_CONFIG } from './cluster-scenarios.js';
import { ControllerProcess, controllerTestDir } from './controller-process.js';
import { waitUntil } from './deadline.js';
import { writeKeyPair } from './keys.js';
import { startNatsCluster, type NatsCluster } from './nats-server.js';
import { tcpProxy, type TcpProxy } from './tcp-proxy.js';

// The leader reaches NATS only through a TCP proxy this test controls; cutting the proxy
// partitions it from the cluster. It must stop acting as leader before its lease ends, which is
// before the other controller may take over.

let cluster: NatsCluster;
let proxy: TcpProxy;
let dir: string;
const controllers: ControllerProcess[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  proxy = await tcpProxy(cluster.nodes[0]!.port);
  dir = await controllerTestDir('cluster-partition');
  const release = await writeKeyPair(dir, 'release');
  const key = await writeKeyPair(dir, 'controller');
  const config = join(dir, 'controller.yaml');
  await writeFile(config, CLUSTER_CONTROLLER_CONFIG);
  const start = (name: string, natsUrl: string) =>
    ControllerProcess.start({ natsUrl, dir: join(dir, name), controllerKey: key.keyPath, trustedKeys: [release.pubPath], args: ['--config', config] });
  // The first to start leads; it reaches NATS only through the proxy.
  controllers.push(await start('behind-proxy', `nats://127.0.0.1:${proxy.port}`));
  controllers.push(await start('direct', cluster.urls));
});

afterAll(async () => {
  await Promise.all(controllers.map((c) => c.stop()));
  await proxy?.close();
  await cluster?.stop();
});

/** When a controller logged `msg` (its own log line's time), or undefined. */
function loggedAt(c: ControllerProcess, msg: string): number | undefined {
  for (const line of c.output().split('\n')) {
    try {
      const entry = JSON.parse(line) as { msg?: string; time?: string | number };
      if (entry.msg === msg && entry.time !== undefined) return new Date(entry.time).getTime();
    } catch {
      // not a log line
    }
  }
  return undefined;
}

async function role(c: ControllerProcess): Promise<string | undefined> {
  const r = await httpGet(Number(c.http.split(':')[1]), '/healthz', 2000);
  return (JSON.parse(r.body) as { cluster?: { role: string } }).cluster?.role;
}

describe('a leader partitioned from the NATS cluster', () => {
  it('stops acting as leader before the other controller takes over', async () => {
    const [cutOff, other] = controllers as [ControllerProcess, ControllerProcess];
    await waitUntil('the controller behind the proxy to lead', async () => (await role(cutOff)) === 'leader', { timeoutMs: 20_000 });
    expect(await role(other)).toBe('follower');

    proxy.cut();
    await waitUntil('the other controller to lead', async () => (await role(other)) === 'leader', { timeoutMs: 30_000, intervalMs: 100 });
    expect(await role(cutOff)).toBe('follower');
    const stoodDown = loggedAt(cutOff, 'leadership lost');
    const tookOver = loggedAt(other, 'leadership gained');
    expect(stoodDown, cutOff.output()).toBeDefined();
    expect(tookOver, other.output()).toBeDefined();
    // The lease (4s) minus the margin (1s) after its last renewal, against the lease after the
    // other first read that renewal: at least the margin apart.
    expect(tookOver! - stoodDown!).toBeGreaterThanOrEqual(900);
    console.log(`[measure] partitioned leader stood down ${tookOver! - stoodDown!} ms before the other took over`);
  });
});
