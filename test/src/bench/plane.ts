import { join } from 'node:path';
import type { ControllerClients } from '../controller-process.js';
import { ControllerFixture } from '../controller-fixture.js';
import type { TestKeyPair } from '../keys.js';
import type { NatsServer } from '../nats-server.js';
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
 * The tests' controller fixture (a nats-server and a real, unmodified controller process), with
 * the controller's log lines parsed as they come so that a benchmark can wait for one ("host
 * down") without polling the controller, which would cost it CPU inside the measurement.
 */
export class ControlPlane {
  readonly logs: LogFollower;

  private constructor(private readonly fixture: ControllerFixture) {
    const child = fixture.controller.child;
    this.logs = new LogFollower('the controller', child.stdout, child.stderr);
  }

  static async start(opts: PlaneOptions): Promise<ControlPlane> {
    const fixture = await ControllerFixture.start({
      dir: opts.dir,
      dataDir: join(opts.dir, 'controller'),
      cwd: opts.dir,
      logLevel: opts.logLevel ?? 'info',
      readyTimeoutMs: 20_000,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.args ? { args: opts.args } : {}),
      ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
    });
    return new ControlPlane(fixture);
  }

  get nats(): NatsServer {
    return this.fixture.nats;
  }

  get releaseKey(): TestKeyPair {
    return this.fixture.release;
  }

  get controllerKey(): TestKeyPair {
    return this.fixture.controllerKey;
  }

  get grpc(): string {
    return this.fixture.controller.grpc;
  }

  get http(): string {
    return this.fixture.controller.http;
  }

  get dataDir(): string {
    return this.fixture.controller.dataDir;
  }

  get pid(): number {
    return this.fixture.controller.pid;
  }

  get clients(): ControllerClients {
    return this.fixture.clients;
  }

  /** Resolves with the first log line (from now on, or among the recent ones) that matches; rejects after `timeoutMs`. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, opts: { includeRecent?: boolean } = {}): Promise<LogLine> {
    return this.logs.waitFor(match, timeoutMs, opts);
  }

  /** Stops the controller (SIGTERM, SIGKILL after 10 s) and the nats-server. */
  stop(): Promise<void> {
    return this.fixture.stop();
  }
}
