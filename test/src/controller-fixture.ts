import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ControllerProcess, controllerClients, controllerTestDir, type ControllerClients, type ControllerProcessOptions } from './controller-process.js';
import { readKeyPair, writeKeyPair, type KeyPaths, type TestKeyPair } from './keys.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

/** What a controller under test is started with, beyond what the fixture provides. */
export type ControllerFixtureOptions = Partial<Omit<ControllerProcessOptions, 'natsUrl' | 'controllerKey' | 'trustedKeys' | 'dir'>> & {
  /** Working directory (keys, and the controller's unless `controllerDir`). @default a fresh temp dir, removed by stop() */
  dir?: string;
  /** Names the temp dir. @default 'controller' */
  name?: string;
  /** The controller's own directory (data, ready files). @default `dir` */
  controllerDir?: string;
  /** Key files to use. @default new pairs written under `<dir>/keys` */
  keys?: { release: KeyPaths; controller: KeyPaths };
  /** A NATS to use (a cluster's `asServer()`, say), left running by stop(). @default one of its own */
  nats?: NatsServer;
  /** Extra lines for the config of its own nats-server (TLS, authorization), kept across restartNats(). */
  natsConfig?: string;
};

/**
 * The start every controller test, the fleet and the benchmark share: its own nats-server, a
 * release key and a controller key on disk, the controller as a real process trusting the
 * release key, and gRPC clients.
 */
export class ControllerFixture {
  private clientsOpen: ControllerClients | undefined;

  private constructor(
    readonly dir: string,
    private readonly ownsDir: boolean,
    public nats: NatsServer,
    public controller: ControllerProcess,
    readonly release: TestKeyPair,
    readonly controllerKey: TestKeyPair,
    private readonly opts: ControllerFixtureOptions,
  ) {}

  static async start(opts: ControllerFixtureOptions = {}): Promise<ControllerFixture> {
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? (await controllerTestDir(opts.name ?? 'controller'));
    let nats: NatsServer | undefined;
    try {
      const keysDir = join(dir, 'keys');
      await mkdir(keysDir, { recursive: true });
      const release = await (opts.keys ? readKeyPair(opts.keys.release) : writeKeyPair(keysDir, 'release'));
      const controllerKey = await (opts.keys ? readKeyPair(opts.keys.controller) : writeKeyPair(keysDir, 'controller'));
      nats = opts.nats ?? (await startNatsServer(opts.natsConfig !== undefined ? { config: opts.natsConfig } : {}));
      const controller = await startController(dir, nats, release, controllerKey, opts, {});
      return new ControllerFixture(dir, ownsDir, nats, controller, release, controllerKey, opts);
    } catch (err) {
      if (!opts.nats) await nats?.stop();
      if (ownsDir) await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** gRPC clients of the current controller. */
  get clients(): ControllerClients {
    this.clientsOpen ??= controllerClients(this.controller.grpc);
    return this.clientsOpen;
  }

  /**
   * Starts the controller again on the same NATS and data dir (after `controller.stop()`, which
   * may be a SIGKILL): on new ports, or with `samePorts` on the old ones, as agents given its
   * address need.
   */
  async restartController({ samePorts = false } = {}): Promise<ControllerProcess> {
    this.clientsOpen?.close();
    this.clientsOpen = undefined;
    const ports = samePorts ? { grpcListen: this.controller.grpc, httpListen: this.controller.http } : {};
    this.controller = await startController(this.dir, this.nats, this.release, this.controllerKey, this.opts, ports);
    return this.controller;
  }

  /**
   * Stops nats-server (`signal`: SIGKILL for a crash) and starts it again on the same port and
   * storage, so agents and the controller reconnect to the address they know. `meanwhile` runs
   * while it is down (a test swapping its store for an older copy, say).
   */
  async restartNats(signal: NodeJS.Signals = 'SIGTERM', meanwhile?: (jetstreamDir: string) => Promise<void>): Promise<NatsServer> {
    await this.nats.kill(signal);
    await meanwhile?.(join(this.nats.dir, 'js'));
    this.nats = await startNatsServer({ dir: this.nats.dir, port: this.nats.port, ...(this.opts.natsConfig !== undefined ? { config: this.opts.natsConfig } : {}) });
    return this.nats;
  }

  /** Stops the controller and NATS; removes the temp dir it made. */
  async stop(): Promise<void> {
    this.clientsOpen?.close();
    await this.controller.stop();
    if (!this.opts.nats) await this.nats.stop();
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }
}

function startController(
  dir: string,
  nats: NatsServer,
  release: TestKeyPair,
  controllerKey: TestKeyPair,
  opts: ControllerFixtureOptions,
  ports: Pick<ControllerProcessOptions, 'grpcListen' | 'httpListen'>,
): Promise<ControllerProcess> {
  const { dir: _dir, name: _name, controllerDir, keys: _keys, nats: _nats, natsConfig: _natsConfig, ...rest } = opts;
  const own = controllerDir ?? dir;
  return ControllerProcess.start({
    ...rest,
    ...ports,
    natsUrl: nats.url,
    dir: own,
    dataDir: opts.dataDir ?? join(own, 'data'),
    controllerKey: controllerKey.keyPath,
    trustedKeys: [release.pubPath],
  });
}
