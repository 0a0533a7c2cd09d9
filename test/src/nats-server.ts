import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { waitUntil } from './deadline.js';
import { listening, spawnReady, type Spawned } from './spawn.js';

/** A real nats-server with JetStream, private to one test file. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. */
  stop(): Promise<void>;
  /** Stops the server but keeps its storage, for restart tests. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartNatsOptions {
  /** Extra lines of server config (for example an authorization block). */
  config?: string;
  /** Reuse this directory's JetStream storage (restart tests). */
  dir?: string;
  /** Listen on this port instead of a free one (restart tests must keep the port). */
  port?: number;
  /** @default 10_000 */
  startTimeoutMs?: number;
}

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? 'nats-server';

/**
 * Starts nats-server on a free loopback port (`-p -1`), learns the port from its ports file,
 * then waits for a TCP connect. A server that exits during start fails at once with the tail of
 * its output.
 */
export async function startNatsServer(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'flotilla-nats-')));
  const confPath = join(dir, 'nats.conf');
  await writeFile(
    confPath,
    [
      'host: 127.0.0.1',
      `port: ${opts.port ?? -1}`,
      `ports_file_dir: "${dir}"`,
      // Every JetStream write fsynced before it is acknowledged, as in deploy/nats
      // (docs/reliability.md); nats-server accepts this from 2.10 on.
      `jetstream { store_dir: "${join(dir, 'js')}", sync_interval: always }`,
      opts.config ?? '',
    ].join('\n'),
  );
  let started: { proc: Spawned; ready: number };
  try {
    started = await spawnReady({
      what: 'nats-server (2.10 or newer: scripts/ensure-deps.sh installs it)',
      command: NATS_SERVER_BIN,
      args: ['-c', confPath],
      keepBytes: 8192,
      readyTimeoutMs: opts.startTimeoutMs ?? 10_000,
      // The ports file names the port the server chose; a TCP connect says it listens.
      ready: async (proc) => {
        const p = await readPortsFile(dir, proc.pid);
        return p !== undefined && (await listening(p)) ? p : undefined;
      },
    });
  } catch (err) {
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const { proc, ready: port } = started;
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    await proc.stop(signal, 5000);
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    process: proc.child,
    kill,
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function readPortsFile(dir: string, pid: number | undefined): Promise<number | undefined> {
  try {
    const files = await readdir(dir);
    const name = files.find((f) => f === `nats-server_${pid}.ports`) ?? files.find((f) => f.endsWith('.ports'));
    if (!name) return undefined;
    const ports = JSON.parse(await readFile(join(dir, name), 'utf8')) as { client?: string[]; nats?: string[] };
    const url = (ports.client ?? ports.nats ?? [])[0];
    const m = url ? /:(\d+)$/.exec(url) : null;
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // not written yet, or half written
  }
}

/** Several nats-servers routed into one JetStream cluster on loopback, private to one test file. */
export interface NatsCluster {
  readonly nodes: NatsServer[];
  /** Every node's client URL, comma-separated (what `--nats` takes). */
  readonly urls: string;
  /** The cluster where a single server is expected: its URL is every node's, stop() stops them all. */
  asServer(): NatsServer;
  /** SIGKILLs node `i` and keeps its storage and ports for `restart(i)`. */
  kill(i: number): Promise<void>;
  /** Starts node `i` again on its ports and storage, and waits until JetStream answers there. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `size` nodes (each its own client port, cluster port and store dir) routed to each
 * other, and waits until JetStream has a meta leader (an R3 bucket can only be made then).
 */
export async function startNatsCluster(size = 3, opts: { startTimeoutMs?: number } = {}): Promise<NatsCluster> {
  const base = await mkdtemp(join(tmpdir(), 'flotilla-nats-cluster-'));
  const clusterPorts = await freePorts(size);
  // A name of its own: a route from another cluster on this machine (a port freed here and taken
  // there between freePorts and the bind) is refused instead of joining two clusters' JetStream.
  const name = `flotilla-${randomBytes(4).toString('hex')}`;
  const configOf = (i: number) =>
    [
      `server_name: n${i + 1}`,
      'cluster {',
      `  name: ${name}`,
      `  listen: 127.0.0.1:${clusterPorts[i]}`,
      // Clients keep to the servers they were given (no discovery): a test can cut one off.
      '  no_advertise: true',
      `  routes: [${clusterPorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]`,
      '}',
    ].join('\n');
  const nodes: NatsServer[] = [];
  const dirs: string[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const dir = join(base, `n${i + 1}`);
      await mkdir(dir, { recursive: true });
      dirs.push(dir);
      nodes.push(await startNatsServer({ dir, config: configOf(i), startTimeoutMs: opts.startTimeoutMs }));
    }
    await waitForJetStream(nodes.map((n) => n.url));
    await waitForReplicas(nodes[0]!.url, size);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL').catch(() => undefined)));
    await rm(base, { recursive: true, force: true });
    throw err;
  }
  const urls = nodes.map((n) => n.url).join(',');
  const cluster: NatsCluster = {
    nodes,
    urls,
    asServer: () => ({
      url: urls,
      port: nodes[0]!.port,
      dir: base,
      process: nodes[0]!.process,
      stop: () => cluster.stop(),
      kill: async (signal) => {
        await Promise.all(nodes.map((n) => n.kill(signal)));
      },
    }),
    async kill(i) {
      await nodes[i]!.kill('SIGKILL');
    },
    async restart(i) {
      nodes[i] = await startNatsServer({ dir: dirs[i], port: nodes[i]!.port, config: configOf(i), startTimeoutMs: opts.startTimeoutMs });
      await waitForJetStream([nodes[i]!.url]);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.kill().catch(() => undefined)));
      await rm(base, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** Waits until JetStream answers account info through each of `urls` (a meta leader exists). */
async function waitForJetStream(urls: string[]): Promise<void> {
  for (const url of urls) {
    const nc = await connect({ servers: url, name: 'test-cluster-probe' });
    try {
      // jetstreamManager() itself asks for account info, which times out until a meta leader exists.
      await waitUntil(`JetStream through ${url}`, async () => (await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo()) !== undefined, {
        timeoutMs: 30_000,
        intervalMs: 200,
      });
    } finally {
      await nc.close();
    }
  }
}

/**
 * Waits until a stream with `replicas` replicas can be placed (every peer known to the meta
 * leader): before that, a controller's first R3 bucket fails with "no suitable peers".
 */
async function waitForReplicas(url: string, replicas: number): Promise<void> {
  const nc = await connect({ servers: url, name: 'test-cluster-probe' });
  try {
    await waitUntil(
      `a stream with ${replicas} replicas to be placeable`,
      async () => {
        const jsm = await jetstreamManager(nc, { timeout: 5000 });
        await jsm.streams.add({ name: 'cluster_probe', subjects: ['cluster.probe'], num_replicas: replicas });
        await jsm.streams.delete('cluster_probe');
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  } finally {
    await nc.close();
  }
}

/** Ports free right now on loopback (bound and released; the cluster binds them a moment later). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
