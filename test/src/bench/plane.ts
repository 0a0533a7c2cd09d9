import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ControllerProcess, controllerClients, type ControllerClients } from '../controller-process.js';
import { writeKeyPair, type TestKeyPair } from '../keys.js';
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
 * A nats-server and a real, unmodified controller process (the tests' ControllerProcess), with
 * the controller's log lines parsed as they come so that a benchmark can wait for one ("host
 * down") without polling the controller, which would cost it CPU inside the measurement.
 */
export class ControlPlane {
  private clientsOpen: ControllerClients | undefined;
  readonly logs: LogFollower;

  private constructor(
    readonly nats: NatsServer,
    readonly controller: ControllerProcess,
    readonly releaseKey: TestKeyPair,
    readonly controllerKey: TestKeyPair,
  ) {
    this.logs = new LogFollower('the controller', controller.child.stdout, controller.child.stderr);
  }

  static async start(opts: PlaneOptions): Promise<ControlPlane> {
    const keysDir = join(opts.dir, 'keys');
    await mkdir(keysDir, { recursive: true });
    const releaseKey = await writeKeyPair(keysDir, 'release');
    const controllerKey = await writeKeyPair(keysDir, 'controller');
    const nats = await startNatsServer();
    try {
      const controller = await ControllerProcess.start({
        natsUrl: nats.url,
        dir: opts.dir,
        dataDir: join(opts.dir, 'controller'),
        controllerKey: controllerKey.keyPath,
        trustedKeys: [releaseKey.pubPath],
        logLevel: opts.logLevel ?? 'info',
        cwd: opts.dir,
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.args ? { args: opts.args } : {}),
        ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
        readyTimeoutMs: 20_000,
      });
      return new ControlPlane(nats, controller, releaseKey, controllerKey);
    } catch (err) {
      await nats.stop();
      throw err;
    }
  }

  get grpc(): string {
    return this.controller.grpc;
  }

  get http(): string {
    return this.controller.http;
  }

  get dataDir(): string {
    return this.controller.dataDir;
  }

  get pid(): number {
    return this.controller.pid;
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
    await this.controller.stop();
    await this.nats.stop();
  }
}
