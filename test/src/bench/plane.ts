import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONTROLLER_MAIN, controllerClients, writeTestKeyPair, type ControllerClients, type TestKeyPair } from '../controller-process.js';
import { startNatsServer, type NatsServer } from '../nats-server.js';
import { LogFollower, type LogLine } from './logs.js';

export type { LogLine };

export interface PlaneOptions {
  /** Working directory (keys, data, ready file). */
  dir: string;
  /** Extra environment for the controller (FLOTILLA_* of this process are not passed on). */
  env?: Record<string, string>;
  /** Extra controller flags. */
  args?: string[];
  /** @default 'info', the controller's default */
  logLevel?: string;
  /** Node flags for the controller (--cpu-prof, --heapsnapshot-signal...). */
  nodeArgs?: string[];
}

/**
 * A nats-server and a real, unmodified controller process, with the controller's log lines
 * parsed as they come so that a benchmark can wait for one ("host down") without polling the
 * controller, which would cost it CPU inside the measurement.
 */
export class ControlPlane {
  private clientsOpen: ControllerClients | undefined;
  readonly logs: LogFollower;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly nats: NatsServer,
    readonly child: ChildProcess,
    readonly grpc: string,
    readonly http: string,
    readonly dataDir: string,
    readonly releaseKey: TestKeyPair,
    readonly controllerKey: TestKeyPair,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.logs = new LogFollower('the controller', child.stdout, child.stderr);
  }

  static async start(opts: PlaneOptions): Promise<ControlPlane> {
    const keysDir = join(opts.dir, 'keys');
    await mkdir(keysDir, { recursive: true });
    const releaseKey = await writeTestKeyPair(keysDir, 'release');
    const controllerKey = await writeTestKeyPair(keysDir, 'controller');
    const nats = await startNatsServer();
    const dataDir = join(opts.dir, 'controller');
    const readyFile = join(opts.dir, 'controller-ready.json');
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FLOTILLA_')) env[k] = v;
    const child = spawn(
      process.execPath,
      [
        ...(opts.nodeArgs ?? []),
        CONTROLLER_MAIN,
        '--nats', nats.url,
        '--grpc-listen', '127.0.0.1:0',
        '--http-listen', '127.0.0.1:0',
        '--data-dir', dataDir,
        '--controller-key', controllerKey.keyPath,
        '--trusted-key', releaseKey.pubPath,
        '--ready-file', readyFile,
        '--log-level', opts.logLevel ?? 'info',
        '--no-log-pretty',
        ...(opts.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...opts.env }, cwd: opts.dir },
    );
    let output = '';
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-8192);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exitedEarly = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`the controller exited at start (${signal ?? code}):\n${output}`))),
    );
    exitedEarly.catch(() => undefined);
    try {
      const ready = await Promise.race([pollReady(readyFile, 20_000), exitedEarly]);
      child.stdout?.off('data', keep);
      child.stderr?.off('data', keep);
      return new ControlPlane(nats, child, ready.grpc, ready.http, dataDir, releaseKey, controllerKey);
    } catch (err) {
      child.kill('SIGKILL');
      await nats.stop();
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get clients(): ControllerClients {
    this.clientsOpen ??= controllerClients(this.grpc);
    return this.clientsOpen;
  }

  /** Resolves with the first log line (from now on, or among the recent ones) that matches; rejects after `timeoutMs`. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, opts: { includeRecent?: boolean } = {}): Promise<LogLine> {
    return this.logs.waitFor(match, timeoutMs, opts);
  }

  /** Stops the controller (SIGTERM, SIGKILL after 10 s) and the nats-server. */
  async stop(): Promise<void> {
    this.clientsOpen?.close();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    await this.nats.stop();
  }
}

async function pollReady(path: string, timeoutMs: number): Promise<{ grpc: string; http: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as { grpc: string; http: string };
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`the controller wrote no ready file within ${timeoutMs} ms`);
}
