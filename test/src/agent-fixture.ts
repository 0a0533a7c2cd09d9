import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Heartbeat } from '@flotilla/shared';
import {
  AgentProcess,
  ArtifactServer,
  ControllerStandIn,
  HeartbeatWatch,
  freePort,
  killAppsOf,
  tempDir,
  type AgentProcessOptions,
} from './agent-process.js';
import { writeKeyPair, type TestKeyPair } from './keys.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

/**
 * The start every agent test shares: its own nats-server, an artifact server, the release and
 * controller keys, a stand-in controller on NATS, a watch on the host's heartbeats, and the
 * options of one agent (its data dir, and a free port for the demo app). The test spawns the
 * agent (`spawnAgent`) when it wants it running.
 */
export class AgentFixture {
  agent: AgentProcess | undefined;
  readonly options: AgentProcessOptions;

  private constructor(
    readonly dir: string,
    readonly nats: NatsServer,
    readonly artifacts: ArtifactServer,
    readonly ctl: ControllerStandIn,
    readonly watch: HeartbeatWatch,
    readonly releaseKey: TestKeyPair,
    readonly controllerKey: TestKeyPair,
    readonly hostId: string,
    readonly port: number,
  ) {
    this.options = {
      hostId,
      natsUrl: nats.url,
      dataDir: join(dir, 'data'),
      controller: artifacts.address,
      trustedKeys: [releaseKey.pubPath],
      controllerPublicKeys: [controllerKey.pubPath],
      appEnv: [`demo:PORT=${port}`],
    };
  }

  static async start(name: string, hostId: string): Promise<AgentFixture> {
    const dir = await tempDir(name);
    const nats = await startNatsServer();
    const artifacts = await ArtifactServer.start();
    const releaseKey = await writeKeyPair(dir, 'release');
    const controllerKey = await writeKeyPair(dir, 'controller');
    const ctl = await ControllerStandIn.start(nats.url, controllerKey.signer);
    const watch = new HeartbeatWatch(ctl.nc, hostId);
    return new AgentFixture(dir, nats, artifacts, ctl, watch, releaseKey, controllerKey, hostId, await freePort());
  }

  get dataDir(): string {
    return this.options.dataDir;
  }

  /** Spawns the agent with the fixture's options (and `more`), as the current one. */
  spawnAgent(more: Partial<AgentProcessOptions> = {}): AgentProcess {
    this.agent = AgentProcess.spawn({ ...this.options, ...more });
    return this.agent;
  }

  /** The first heartbeat from now on that satisfies `pred`; fails with the agent's output tail. */
  waitForHeartbeat(pred: (hb: Heartbeat) => boolean): Promise<Heartbeat> {
    return this.watch.waitFor(pred, 45_000, () => `agent output tail:\n${this.agent?.tail(30) ?? '(no agent)'}`);
  }

  /** Stops the agent and the apps it left running, then everything else; removes the directory. */
  async stop(): Promise<void> {
    this.watch.stop();
    await this.agent?.stop();
    await killAppsOf(this.dataDir);
    await this.ctl.stop();
    await this.artifacts.stop();
    await this.nats.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
