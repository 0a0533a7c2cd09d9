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
  /** The last lines of its log, for failure messages. */
  tail(lines?: number): string;
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
    tail: (lines) => proc.tail(lines),
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
  // A probed port can be taken by another process before the node binds it; the node then exits
  // at start, and a fresh set of ports is tried (a few times, then the error stands). A cluster
  // that never gets to place a replicated stream is started again the same way, its nodes' logs
  // written out first so that the cause stays visible.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(size, opts);
    } catch (err) {
      const text = String(err);
      const placement = /no suitable peers/i.test(text);
      if (attempt >= 3 || !(placement || /address already in use/i.test(text))) throw err;
      if (placement) process.stderr.write(`test NATS cluster could not place a replicated stream; starting it again:\n${text}\n`);
    }
  }
}

async function startNatsClusterOnce(size: number, opts: { startTimeoutMs?: number }): Promise<NatsCluster> {
  const base = await mkdtemp(join(tmpdir(), 'flotilla-nats-cluster-'));
  const clusterPorts = await freePorts(size);
  // Named apart from every other test cluster on the machine: cluster ports come from a probe, so
  // a route may reach another test's node, and nats-server refuses a route whose cluster name
  // differs instead of merging two clusters whose servers share names (JetStream then finds no
  // peers to place a stream on). Fixed for the cluster's life: a restarted node must match.
  const clusterName = `flotilla-${randomBytes(4).toString('hex')}`;
  const configOf = (i: number) =>
    [
      `server_name: ${clusterName}-n${i + 1}`,
      // A monitoring port of its own, read only when the cluster fails to start (/jsz below).
      'http: "127.0.0.1:-1"',
      'cluster {',
      `  name: ${clusterName}`,
      `  listen: 127.0.0.1:${clusterPorts[i]}`,
      // Clients keep to the servers they were given (no discovery): a test can cut one off.
      '  no_advertise: true',
      // Each pair of nodes is dialled from one side only: node i dials the nodes started before
      // it (the first, which JetStream requires to have a route, names itself, which the server
      // ignores). When both sides dial at once, nats-server closes one as a duplicate, and in the
      // 2.10 we install that resolution can leave a pair without its system-account route (fixed
      // in later servers); the likely cause of a meta leader answering "no suitable peers for
      // placement" to R3 streams for minutes on a freshly started cluster.
      `  routes: [${(i === 0 ? [clusterPorts[0]] : clusterPorts.slice(0, i)).map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]`,
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
    const logs = (await Promise.all(nodes.map(async (n, i) => `--- node ${i + 1} (${clusterName})\n${n.tail(25)}\n${await metaClusterView(n.dir)}`))).join('\n');
    await Promise.all(nodes.map((n) => n.kill('SIGKILL').catch(() => undefined)));
    await rm(base, { recursive: true, force: true });
    if (/address already in use/i.test(String(err))) throw err;
    throw new Error(`${String(err)}\n${logs}`, { cause: err });
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
      tail: (lines) => nodes.map((n) => n.tail(lines)).join('\n'),
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

/** The node's view of the JetStream meta group (its /jsz), for a failure message; never throws. */
async function metaClusterView(dir: string): Promise<string> {
  try {
    const name = (await readdir(dir)).find((f) => f.endsWith('.ports'));
    const ports = JSON.parse(await readFile(join(dir, name ?? ''), 'utf8')) as { monitoring?: string[] };
    const url = ports.monitoring?.[0];
    if (!url) return 'jsz: no monitoring port';
    const res = await fetch(`${url}/jsz`, { signal: AbortSignal.timeout(3000) });
    const jsz = (await res.json()) as { meta_cluster?: unknown; config?: unknown };
    return `jsz meta_cluster: ${JSON.stringify(jsz.meta_cluster)}`;
  } catch (err) {
    return `jsz: ${String(err)}`;
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
