import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
