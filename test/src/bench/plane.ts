import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { controllerClients, type ControllerClients, type HttpTarget } from '../controller-process.js';
import { ControllerFixture } from '../controller-fixture.js';
import type { TestKeyPair } from '../keys.js';
import type { NatsServer } from '../nats-server.js';
import type { SimNatsAuth } from '../sim/index.js';
import { LogFollower, type LogLine } from './logs.js';
import { makeSecureSetup, type SecureOptions, type SecureSetup } from './secure.js';

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
  /** TLS on, as shipped (bench/secure.ts); absent: plaintext, no NATS users. */
  secure?: SecureOptions;
}

/**
 * The tests' controller fixture (a nats-server and a real, unmodified controller process), with
 * the controller's log lines parsed as they come so that a benchmark can wait for one ("host
 * down") without polling the controller, which would cost it CPU inside the measurement.
 */
export class ControlPlane {
  readonly logs: LogFollower;
  private secureClients: ControllerClients | undefined;

  private constructor(
    private readonly fixture: ControllerFixture,
    /** The PKI, users and configs when the plane runs TLS on (PlaneOptions.secure). */
    readonly secure: SecureSetup | undefined,
  ) {
    const child = fixture.controller.child;
    this.logs = new LogFollower('the controller', child.stdout, child.stderr);
  }

  static async start(opts: PlaneOptions): Promise<ControlPlane> {
    const secure = opts.secure ? await makeSecureSetup(join(opts.dir, 'pki'), opts.secure) : undefined;
    let args = opts.args ?? [];
    if (secure) {
      const config = join(opts.dir, 'controller.yaml');
      await writeFile(config, secure.controllerYaml, { mode: 0o600 });
      args = ['--config', config, ...secure.controllerArgs, ...args];
    }
    const fixture = await ControllerFixture.start({
      dir: opts.dir,
      dataDir: join(opts.dir, 'controller'),
      cwd: opts.dir,
      logLevel: opts.logLevel ?? 'info',
      readyTimeoutMs: 20_000,
      ...(opts.env ? { env: opts.env } : {}),
      ...(args.length > 0 ? { args } : {}),
      ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
      ...(secure ? { natsConfig: secure.natsServerConfig } : {}),
    });
    return new ControlPlane(fixture, secure);
  }

  /** The controller's HTTP listener (HTTPS with the fleet's CA when secure). */
  get httpTarget(): HttpTarget {
    return this.secure ? this.secure.httpTarget(this.http) : this.http;
  }

  /** How the simulator's connections log in (undefined: plaintext, no user). */
  get simNats(): SimNatsAuth | undefined {
    return this.secure?.simNats;
  }

  /** The `flotilla` CLI's environment as the bench's operator. */
  get cliEnv(): Record<string, string> {
    return { ...(this.secure?.cliEnv ?? {}) };
  }

  /** A real agent's environment for NATS and gRPC (its user and certificate when secure). */
  agentEnv(hostId: string): Record<string, string> {
    return this.secure ? this.secure.agentEnv(hostId) : {};
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

  /** gRPC clients (as the bench's admin operator when secure). */
  get clients(): ControllerClients {
    if (!this.secure) return this.fixture.clients;
    this.secureClients ??= controllerClients(this.grpc, this.secure.grpcCredentials());
    return this.secureClients;
  }

  /** Resolves with the first log line (from now on, or among the recent ones) that matches; rejects after `timeoutMs`. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, opts: { includeRecent?: boolean } = {}): Promise<LogLine> {
    return this.logs.waitFor(match, timeoutMs, opts);
  }

  /** Stops the controller (SIGTERM, SIGKILL after 10 s) and the nats-server. */
  stop(): Promise<void> {
    this.secureClients?.close();
    return this.fixture.stop();
  }
}
