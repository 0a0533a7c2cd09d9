import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  const child = spawn(NATS_SERVER_BIN, ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(new Error(`cannot start ${NATS_SERVER_BIN}: ${err.message} (run scripts/ensure-deps.sh: Flotilla needs nats-server 2.10 or newer)`)),
    );
    child.once('exit', (code, signal) =>
      reject(new Error(`nats-server exited during start (${signal ?? code}):\n${output.split('\n').slice(-15).join('\n')}`)),
    );
  });
  exited.catch(() => undefined);

  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let port: number | undefined;
  try {
    port = await Promise.race([
      (async () => {
        while (Date.now() < deadline) {
          const p = await readPortsFile(dir, child.pid);
          if (p !== undefined && (await canConnect(p))) return p;
          await delay(25);
        }
        throw new Error(`nats-server did not start within ${timeoutMs} ms:\n${output}`);
      })(),
      exited,
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    process: child,
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

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
