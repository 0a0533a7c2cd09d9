import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create as createTar } from 'tar';
import type { HostInfo__Output, ListHostsResponse__Output, Rollout__Output } from '@flotilla/proto';
import { AgentProcess, freePort, httpGet, killAppsOf, tempDir, writeKeyPair } from './agent-process.js';
import { ControllerProcess, controllerClients, unaryCall, waitUntil, type ControllerClients } from './controller-process.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

/** The CLI the tests and the demo run as a real process. */
export const CLI_MAIN = fileURLToPath(new URL('../../controller/dist/cli/main.js', import.meta.url));
/** The demo app shipped in deploy/demo/app. */
export const DEMO_APP_DIR = fileURLToPath(new URL('../../deploy/demo/app/', import.meta.url));

/** How a release of the demo app behaves (see deploy/demo/app/server.js). */
export type DemoMode = 'good' | 'unhealthy' | 'unhealthy-after' | 'crash';

/** More of the demo app's environment in a release (DEMO_HEALTHY_FOR for `unhealthy-after`). */
export type DemoEnv = Readonly<Record<string, string>>;

export interface FleetOptions {
  /** @default 3 */
  agents?: number;
  /** @default '1s' */
  heartbeatInterval?: string;
  /** Labels for agent i (default: zone a/b/c round robin). */
  labels?: (i: number) => string[];
  /** A directory to keep everything in (default: a fresh temp dir, removed by stop()). */
  dir?: string;
  /** @default 'info' */
  logLevel?: string;
  /** Start the agents now (default true). */
  startAgents?: boolean;
  /** Key files to use (default: new pairs written under `<dir>/keys`). */
  keys?: { release: KeyPaths; controller: KeyPaths };
  /** More environment for the controller (FLOTILLA_ALERTS_TOKEN, say). */
  controllerEnv?: Record<string, string>;
  /** A YAML config file's text for the controller (alarms settings, say); flags still win. */
  controllerConfig?: string;
}

/** Where an Ed25519 pair lives on disk. */
export interface KeyPaths {
  keyPath: string;
  pubPath: string;
}

export interface FleetAgent {
  readonly hostId: string;
  readonly dataDir: string;
  /** The demo app's port on this host (--app-env demo:PORT=...). */
  readonly port: number;
  readonly labels: string[];
  process: AgentProcess | undefined;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A whole local fleet with real parts: a nats-server with JetStream, the controller, and agents
 * each with their own data directory and app port, plus the release and controller keys.
 */
export class Fleet {
  readonly agents: FleetAgent[] = [];
  private stopped = false;
  private grpcClients: ControllerClients | undefined;

  private constructor(
    readonly dir: string,
    private readonly ownsDir: boolean,
    public nats: NatsServer,
    public controller: ControllerProcess,
    readonly releaseKey: KeyPaths,
    readonly controllerKey: KeyPaths,
    private readonly opts: FleetOptions,
  ) {}

  static async start(opts: FleetOptions = {}): Promise<Fleet> {
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? (await tempDir('fleet'));
    await mkdir(join(dir, 'keys'), { recursive: true });
    const releaseKey = opts.keys?.release ?? (await writeKeyPair(join(dir, 'keys'), 'release'));
    const controllerKey = opts.keys?.controller ?? (await writeKeyPair(join(dir, 'keys'), 'controller'));
    const nats = await startNatsServer();
    let controller: ControllerProcess;
    try {
      controller = await ControllerProcess.start({
        natsUrl: nats.url,
        dir: join(dir, 'controller'),
        controllerKey: controllerKey.keyPath,
        trustedKeys: [releaseKey.pubPath],
        logLevel: opts.logLevel ?? 'info',
        ...(await controllerExtras(dir, opts)),
      });
    } catch (err) {
      await nats.stop();
      throw err;
    }
    const fleet = new Fleet(dir, ownsDir, nats, controller, releaseKey, controllerKey, opts);
    const count = opts.agents ?? 3;
    for (let i = 0; i < count; i++) {
      fleet.agents.push({
        hostId: `host-${i + 1}`,
        dataDir: join(dir, `host-${i + 1}`),
        port: await freePort(),
        labels: opts.labels?.(i) ?? [`zone=${'abc'[i % 3]}`, 'env=demo'],
        process: undefined,
      });
    }
    if (opts.startAgents ?? true) {
      for (let i = 0; i < count; i++) fleet.startAgent(i);
    }
    return fleet;
  }

  /** Starts (or restarts) agent i as a real process. */
  startAgent(i: number): AgentProcess {
    const a = this.agents[i];
    if (!a) throw new Error(`no agent ${i}`);
    a.process = AgentProcess.spawn({
      hostId: a.hostId,
      natsUrl: this.nats.url,
      dataDir: a.dataDir,
      controller: this.controller.grpc,
      trustedKeys: [this.releaseKey.pubPath],
      controllerPublicKeys: [this.controllerKey.pubPath],
      appEnv: [`demo:PORT=${a.port}`],
      labels: a.labels,
      heartbeatInterval: this.opts.heartbeatInterval ?? '1s',
      extraArgs: ['--log-level', this.opts.logLevel ?? 'info'],
    });
    return a.process;
  }

  /**
   * Restarts the controller on the same NATS and data dir (after `controller.stop()`, which may be
   * a SIGKILL), on the same ports: the agents download from the address they were given.
   */
  async restartController(): Promise<ControllerProcess> {
    this.grpcClients?.close();
    this.grpcClients = undefined;
    this.controller = await ControllerProcess.start({
      natsUrl: this.nats.url,
      dir: join(this.dir, 'controller'),
      controllerKey: this.controllerKey.keyPath,
      trustedKeys: [this.releaseKey.pubPath],
      logLevel: this.opts.logLevel ?? 'info',
      grpcListen: this.controller.grpc,
      httpListen: this.controller.http,
      ...(await controllerExtras(this.dir, this.opts)),
    });
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
    this.nats = await startNatsServer({ dir: this.nats.dir, port: this.nats.port });
    return this.nats;
  }

  /** gRPC clients of the current controller, for quick polling where the CLI would be slow. */
  get clients(): ControllerClients {
    this.grpcClients ??= controllerClients(this.controller.grpc);
    return this.grpcClients;
  }

  /** A rollout by id, or the active (else latest) one of an app. */
  async rollout(ref: { id?: string; app?: string }): Promise<Rollout__Output> {
    const r = await unaryCall<{ id?: string; app?: string }, { rollout: Rollout__Output | null }>(this.clients.control, 'GetRollout', ref);
    if (!r.rollout) throw new Error('GetRollout answered without a rollout');
    return r.rollout;
  }

  /** Waits (bounded) until the rollout satisfies `check`; returns it then. */
  waitForRollout(id: string, what: string, check: (r: Rollout__Output) => boolean, timeoutMs = 60_000): Promise<Rollout__Output> {
    return waitUntil(
      `rollout ${id}: ${what}`,
      async () => {
        const r = await this.rollout({ id });
        return check(r) ? r : undefined;
      },
      { timeoutMs, intervalMs: 50 },
    );
  }

  /** Every host as the controller sees it (assignment and accepted seqs, apps' statuses). */
  async hosts(): Promise<HostInfo__Output[]> {
    const r = await unaryCall<{ selector: string }, ListHostsResponse__Output>(this.clients.control, 'ListHosts', { selector: '' });
    return [...r.hosts].sort((a, b) => (a.host_id < b.host_id ? -1 : 1));
  }

  /** Index of the agent with this host id. */
  indexOf(hostId: string): number {
    const i = this.agents.findIndex((a) => a.hostId === hostId);
    if (i < 0) throw new Error(`no agent ${hostId}`);
    return i;
  }

  /** Runs `flotilla ARGS` against this fleet's controller as a real process. */
  cli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; stdio?: 'pipe' | 'inherit' } = {}): Promise<CliResult> {
    return runCli(args, { controller: this.controller.grpc, cwd: this.dir, ...opts });
  }

  /** Builds a release tarball of the demo app; returns its path. */
  release(version: string, mode: DemoMode = 'good', env: DemoEnv = {}): Promise<string> {
    return buildDemoAppRelease({ version, mode, env, outDir: join(this.dir, 'releases') });
  }

  /** Builds, signs and pushes a release with the CLI; throws with the CLI's output when it fails. */
  async push(version: string, mode: DemoMode = 'good', env: DemoEnv = {}): Promise<string> {
    const file = await this.release(version, mode, env);
    const r = await this.cli(['artifact', 'push', file, '--app', 'demo', '--version', version, '--key', this.releaseKey.keyPath]);
    if (r.code !== 0) throw new Error(`push of demo@${version} failed (${r.code}):\n${r.stdout}${r.stderr}`);
    return file;
  }

  /** What the demo app answers on agent i's port (null when nothing answers). */
  async answer(i: number): Promise<{ version: string; pid: number } | null> {
    const a = this.agents[i];
    if (!a) throw new Error(`no agent ${i}`);
    const r = await httpGet(a.port, '/', 1000);
    if (r.status !== 200) return null;
    try {
      return JSON.parse(r.body) as { version: string; pid: number };
    } catch {
      return null;
    }
  }

  /** Waits until every agent's app answers with `version` (bounded). */
  async waitForVersionEverywhere(version: string, timeoutMs = 30_000): Promise<void> {
    await waitUntil(
      `every host to serve demo ${version}`,
      async () => {
        const answers = await Promise.all(this.agents.map((_, i) => this.answer(i)));
        return answers.every((a) => a?.version === version);
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** Everything the parts logged lately, for failure messages. */
  diagnostics(): string {
    return [
      `--- controller ---\n${this.controller.output()}`,
      ...this.agents.map((a) => `--- ${a.hostId} ---\n${a.process?.tail(25) ?? '(not started)'}`),
    ].join('\n');
  }

  /** Stops agents, their apps, the controller and NATS; removes the temp dir it made. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.agents.map((a) => a.process?.stop()));
    await Promise.all(this.agents.map((a) => killAppsOf(a.dataDir)));
    this.grpcClients?.close();
    await this.controller.stop();
    await this.nats.stop();
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** The controller's extra environment and config file, as the fleet's options ask. */
async function controllerExtras(dir: string, opts: FleetOptions): Promise<{ env?: Record<string, string>; args?: string[] }> {
  const out: { env?: Record<string, string>; args?: string[] } = {};
  if (opts.controllerEnv) out.env = { ...opts.controllerEnv };
  if (opts.controllerConfig !== undefined) {
    const file = join(dir, 'controller.yaml');
    await mkdir(dir, { recursive: true });
    await writeFile(file, opts.controllerConfig);
    out.args = ['--config', file];
  }
  return out;
}

/** Runs the built CLI as a process. FLOTILLA_* variables of this process are not passed on. */
export function runCli(
  args: string[],
  opts: { controller?: string; env?: Record<string, string>; timeoutMs?: number; cwd?: string; stdio?: 'pipe' | 'inherit' } = {},
): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FLOTILLA_')) env[k] = v;
  if (opts.controller) env.FLOTILLA_CONTROLLER = opts.controller;
  Object.assign(env, opts.env);
  const inherit = opts.stdio === 'inherit';
  const child = spawn(process.execPath, [CLI_MAIN, ...args], {
    cwd: opts.cwd,
    env,
    stdio: inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/**
 * A release of the demo app from deploy/demo/app: its server, and a flotilla.json naming the
 * version and the behaviour (DEMO_MODE) of this release.
 */
export async function buildDemoAppRelease(opts: { version: string; mode?: DemoMode; env?: DemoEnv; outDir: string }): Promise<string> {
  const src = await tempDir('demo-release');
  try {
    for (const f of ['server.js', 'package.json']) await copyFile(join(DEMO_APP_DIR, f), join(src, f));
    const manifest = JSON.parse(await readFile(join(DEMO_APP_DIR, 'flotilla.json'), 'utf8')) as {
      version?: string;
      start: { env: Record<string, string> };
    };
    manifest.version = opts.version;
    manifest.start.env = { ...manifest.start.env, ...opts.env, DEMO_MODE: opts.mode ?? 'good' };
    await writeFile(join(src, 'flotilla.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await mkdir(opts.outDir, { recursive: true });
    const file = join(opts.outDir, `demo-${opts.version}.tar.gz`);
    await createTar({ gzip: true, file, cwd: src, portable: true }, ['flotilla.json', 'server.js', 'package.json']);
    return file;
  } finally {
    await rm(src, { recursive: true, force: true });
  }
}
