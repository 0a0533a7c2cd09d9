import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ControllerProcess, controllerClients, controllerTestDir, type ControllerClients, type ControllerProcessOptions } from './controller-process.js';
import { writeKeyPair, type TestKeyPair } from './keys.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

/** What a controller under test is started with, beyond what the fixture provides. */
export type ControllerFixtureOptions = Partial<Omit<ControllerProcessOptions, 'natsUrl' | 'controllerKey' | 'trustedKeys' | 'dir'>> & {
  /** Working directory (keys, data, ready files). @default a fresh temp dir, removed by stop() */
  dir?: string;
  /** Names the temp dir. @default 'controller' */
  name?: string;
};

/**
 * The start every controller test shares: its own nats-server, a release key and a controller
 * key on disk, the controller as a real process trusting the release key, and gRPC clients.
 */
export class ControllerFixture {
  private clientsOpen: ControllerClients | undefined;

  private constructor(
    readonly dir: string,
    private readonly ownsDir: boolean,
    readonly nats: NatsServer,
    public controller: ControllerProcess,
    readonly release: TestKeyPair,
    readonly controllerKey: TestKeyPair,
    private readonly opts: ControllerFixtureOptions,
  ) {}

  static async start(opts: ControllerFixtureOptions = {}): Promise<ControllerFixture> {
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? (await controllerTestDir(opts.name ?? 'controller'));
    const keysDir = join(dir, 'keys');
    await mkdir(keysDir, { recursive: true });
    const release = await writeKeyPair(keysDir, 'release');
    const controllerKey = await writeKeyPair(keysDir, 'controller');
    const nats = await startNatsServer();
    try {
      const controller = await ControllerFixture.startController(dir, nats, release, controllerKey, opts);
      return new ControllerFixture(dir, ownsDir, nats, controller, release, controllerKey, opts);
    } catch (err) {
      await nats.stop();
      if (ownsDir) await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private static startController(
    dir: string,
    nats: NatsServer,
    release: TestKeyPair,
    controllerKey: TestKeyPair,
    opts: ControllerFixtureOptions,
  ): Promise<ControllerProcess> {
    const { dir: _dir, name: _name, ...rest } = opts;
    return ControllerProcess.start({
      ...rest,
      natsUrl: nats.url,
      dir,
      dataDir: opts.dataDir ?? join(dir, 'data'),
      controllerKey: controllerKey.keyPath,
      trustedKeys: [release.pubPath],
    });
  }

  /** gRPC clients of the current controller. */
  get clients(): ControllerClients {
    this.clientsOpen ??= controllerClients(this.controller.grpc);
    return this.clientsOpen;
  }

  /** Starts the controller again on the same NATS and data dir (after `controller.stop()`), with new ports. */
  async restartController(): Promise<ControllerProcess> {
    this.clientsOpen?.close();
    this.clientsOpen = undefined;
    this.controller = await ControllerFixture.startController(this.dir, this.nats, this.release, this.controllerKey, this.opts);
    return this.controller;
  }

  /** Stops the controller and NATS; removes the temp dir it made. */
  async stop(): Promise<void> {
    this.clientsOpen?.close();
    await this.controller.stop();
    await this.nats.stop();
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }
}
