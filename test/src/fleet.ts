import { readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  AppEvent__Output,
  GetStatusResponse__Output,
  HostInfo__Output,
  ListHostsResponse__Output,
  Rollout__Output,
} from '@flotilla/proto';
import { AgentProcess, freePort, httpGet, killAppsOf, tempDir } from './agent-process.js';
import { ControllerFixture } from './controller-fixture.js';
import { ControllerProcess, controllerClients, unaryCall, type ControllerClients } from './controller-process.js';
import { deadlineFlag, waitUntil } from './deadline.js';
import type { KeyPaths, TestKeyPair } from './keys.js';
import type { NatsServer } from './nats-server.js';
import { writeReleaseTarball } from './release-tarball.js';
import { cleanEnv, runToExit, type RunResult } from './spawn.js';

/** The CLI the tests and the demo run as a real process. */
export const CLI_MAIN = fileURLToPath(new URL('../../controller/dist/cli/main.js', import.meta.url));
/** The demo app shipped in deploy/demo/app. */
export const DEMO_APP_DIR = fileURLToPath(new URL('../../deploy/demo/app/', import.meta.url));

/** How a release of the demo app behaves (see deploy/demo/app/server.js). */
export type DemoMode = 'good' | 'unhealthy' | 'unhealthy-after' | 'crash';

/** More of the demo app's environment in a release (DEMO_HEALTHY_FOR for `unhealthy-after`, DEMO_CRASH_AFTER for `crash`). */
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
  /** More controller flags (a second --trusted-key, say). */
  controllerArgs?: string[];
  /** More agent flags: the same for every agent, or per agent i (a --config with traffic settings, say). */
  agentArgs?: string[] | ((i: number) => string[]);
  /** More fields in every demo release's flotilla.json (traffic slots, say). */
  manifest?: Record<string, unknown>;
  /**
   * Run authenticated, as a real fleet does: a CA and certificates made with `flotilla tls` under
   * `<dir>/pki`, the controller on TLS, each agent with its own host certificate, and the CLI
   * (and the fleet's own clients) as operator "demo" with the admin role. @default false
   */
  tls?: boolean;
  /** A NATS to run on (a cluster's `asServer()`), stopped with the fleet. @default one of its own */
  nats?: NatsServer;
  /** Controllers sharing the NATS; agents get every one's address. @default 1 */
  controllers?: number;
}

/** The fleet's PKI files (see FleetOptions.tls). */
export interface FleetPki {
  readonly dir: string;
  readonly ca: string;
  /** The operator's certificate and key ("demo", admin). */
  readonly operatorCert: string;
  readonly operatorKey: string;
}

export type { KeyPaths } from './keys.js';

export interface FleetAgent {
  readonly hostId: string;
  readonly dataDir: string;
  /** The demo app's port on this host (--app-env demo:PORT=...). */
  readonly port: number;
  readonly labels: string[];
  process: AgentProcess | undefined;
}

export type CliResult = RunResult;

/**
 * A whole local fleet with real parts: a nats-server with JetStream, the controller, and agents
 * each with their own data directory and app port, plus the release and controller keys.
 */
export class Fleet {
  readonly agents: FleetAgent[] = [];
  private stopped = false;

  /** The controllers beyond the fixture's first (`controllers` option), each with its own dir. */
  readonly others: ControllerProcess[] = [];
  /** The controller the CLI and the clients talk to (the first unless `useController` changed it). */
  private target: ControllerProcess | undefined;
  private targetClients: ControllerClients | undefined;

  private constructor(
    readonly dir: string,
    private readonly ownsDir: boolean,
    private readonly plane: ControllerFixture,
    private readonly opts: FleetOptions,
    /** Set when the fleet runs with TLS. */
    readonly pki?: FleetPki,
  ) {}

  /** The fleet's own TLS clients (the fixture's are plaintext); dropped when the controller restarts. */
  private tlsClients: ControllerClients | undefined;

  /** What the CLI needs in its environment to reach this fleet's controller as its operator. */
  get cliEnv(): Record<string, string> {
    if (!this.pki) return {};
    return { FLOTILLA_TLS_CA: this.pki.ca, FLOTILLA_TLS_CERT: this.pki.operatorCert, FLOTILLA_TLS_KEY: this.pki.operatorKey };
  }

  static async start(opts: FleetOptions = {}): Promise<Fleet> {
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? (await tempDir('fleet'));
    const count = opts.agents ?? 3;
    const pki = opts.tls ? await makeFleetPki(join(dir, 'pki'), count) : undefined;
    const plane = await ControllerFixture.start({
      dir,
      controllerDir: join(dir, 'controller'),
      logLevel: opts.logLevel ?? 'info',
      ...(opts.keys ? { keys: opts.keys } : {}),
      ...(opts.nats ? { nats: opts.nats } : {}),
      ...(await controllerExtras(dir, opts, pki)),
    });
    const fleet = new Fleet(dir, ownsDir, plane, opts, pki);
    for (let i = 1; i < (opts.controllers ?? 1); i++) fleet.others.push(await fleet.startOtherController(i));
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

  get nats(): NatsServer {
    return this.plane.nats;
  }

  get controller(): ControllerProcess {
    return this.plane.controller;
  }

  /** Every controller of the fleet, the first one first. */
  get controllers(): ControllerProcess[] {
    return [this.plane.controller, ...this.others];
  }

  /** Points the CLI and the clients at `c` (another controller of the fleet). */
  useController(c: ControllerProcess): void {
    this.targetClients?.close();
    this.targetClients = undefined;
    this.tlsClients?.close();
    this.tlsClients = undefined;
    this.target = c === this.plane.controller ? undefined : c;
  }

  /** Starts controller number `i` (1-based beyond the first) on the fleet's NATS and keys, in `<dir>/controller-<i+1>`. */
  async startOtherController(i: number): Promise<ControllerProcess> {
    const extras = await controllerExtras(this.dir, this.opts, this.pki);
    return ControllerProcess.start({
      ...extras,
      natsUrl: this.nats.url,
      dir: join(this.dir, `controller-${i + 1}`),
      controllerKey: this.plane.controllerKey.keyPath,
      trustedKeys: [this.plane.release.pubPath],
      logLevel: this.opts.logLevel ?? 'info',
    });
  }

  get releaseKey(): TestKeyPair {
    return this.plane.release;
  }

  get controllerKey(): TestKeyPair {
    return this.plane.controllerKey;
  }

  /**
   * The start every end-to-end file shares: the fleet, every host up, and `stable` pushed and
   * deployed everywhere, so that its success makes it the app's stable version.
   */
  static async startDeployed(opts: FleetOptions & { stable: string }): Promise<Fleet> {
    const fleet = await Fleet.start(opts);
    try {
      await fleet.waitForHostsUp();
      await fleet.push(opts.stable);
      await fleet.run(['deploy', `demo@${opts.stable}`, '--wait-timeout', deadlineFlag(60)]);
      return fleet;
    } catch (err) {
      const diagnostics = fleet.diagnostics();
      await fleet.stop();
      throw new Error(`${String(err)}\n${diagnostics}`);
    }
  }

  /** Waits until the controller has `count` hosts up (default: every agent of the fleet). */
  async waitForHostsUp(count = this.agents.length): Promise<void> {
    await waitUntil(`${count} hosts up`, async () => (await this.hosts()).filter((h) => h.state === 'up').length === count, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
  }

  /** Starts (or restarts) agent i as a real process; `env` adds to its environment (a fault hook, say). */
  startAgent(i: number, env: Record<string, string> = {}): AgentProcess {
    const a = this.agents[i];
    if (!a) throw new Error(`no agent ${i}`);
    a.process = AgentProcess.spawn({
      hostId: a.hostId,
      natsUrl: this.nats.url,
      dataDir: a.dataDir,
      controller: this.controllers.map((c) => c.grpc).join(','),
      trustedKeys: [this.releaseKey.pubPath],
      controllerPublicKeys: [this.controllerKey.pubPath],
      appEnv: [`demo:PORT=${a.port}`],
      labels: a.labels,
      heartbeatInterval: this.opts.heartbeatInterval ?? '1s',
      extraArgs: ['--log-level', this.opts.logLevel ?? 'info', ...(typeof this.opts.agentArgs === 'function' ? this.opts.agentArgs(i) : (this.opts.agentArgs ?? []))],
      env: {
        ...env,
        ...(this.pki
          ? {
              FLOTILLA_TLS_CA: this.pki.ca,
              FLOTILLA_TLS_CERT: join(this.pki.dir, `host-${a.hostId}.pem`),
              FLOTILLA_TLS_KEY: join(this.pki.dir, `host-${a.hostId}-key.pem`),
            }
          : {}),
      },
    });
    return a.process;
  }

  /**
   * Restarts the controller on the same NATS and data dir (after `controller.stop()`, which may be
   * a SIGKILL), on the same ports: the agents download from the address they were given.
   */
  restartController(): Promise<ControllerProcess> {
    this.tlsClients?.close();
    this.tlsClients = undefined;
    return this.plane.restartController({ samePorts: true });
  }

  /**
   * Stops nats-server (`signal`: SIGKILL for a crash) and starts it again on the same port and
   * storage, so agents and the controller reconnect to the address they know. `meanwhile` runs
   * while it is down (a test swapping its store for an older copy, say).
   */
  restartNats(signal: NodeJS.Signals = 'SIGTERM', meanwhile?: (jetstreamDir: string) => Promise<void>): Promise<NatsServer> {
    return this.plane.restartNats(signal, meanwhile);
  }

  /**
   * Starts a stopped (or SIGKILLed) controller of the fleet again on its data dir and ports (the
   * agents were given its address); returns the new process, which takes its place in the fleet.
   */
  async restartFleetController(c: ControllerProcess): Promise<ControllerProcess> {
    if (c === this.plane.controller) {
      const again = await this.restartController();
      if (this.target === c) this.useController(again);
      return again;
    }
    const i = this.others.indexOf(c);
    if (i < 0) throw new Error('not a controller of this fleet');
    const extras = await controllerExtras(this.dir, this.opts, this.pki);
    const again = await ControllerProcess.start({
      ...extras,
      natsUrl: this.nats.url,
      dir: join(this.dir, `controller-${i + 2}`),
      dataDir: c.dataDir,
      grpcListen: c.grpc,
      httpListen: c.http,
      controllerKey: this.plane.controllerKey.keyPath,
      trustedKeys: [this.plane.release.pubPath],
      logLevel: this.opts.logLevel ?? 'info',
    });
    this.others[i] = again;
    if (this.target === c) this.useController(again);
    return again;
  }

  /** gRPC clients of the current controller, for quick polling where the CLI would be slow. */
  get clients(): ControllerClients {
    if (this.pki) {
      this.tlsClients ??= controllerClients(
        (this.target ?? this.controller).grpc,
        grpc.credentials.createSsl(readFileSync(this.pki.ca), readFileSync(this.pki.operatorKey), readFileSync(this.pki.operatorCert)),
      );
      return this.tlsClients;
    }
    if (!this.target) return this.plane.clients;
    this.targetClients ??= controllerClients(this.target.grpc);
    return this.targetClients;
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
    return runCli(args, { controller: (this.target ?? this.controller).grpc, cwd: this.dir, ...opts, env: { ...this.cliEnv, ...opts.env } });
  }

  /** `flotilla ARGS`, which must exit with `expected`; throws with its output and the fleet's logs when not. */
  async run(args: string[], expected = 0): Promise<CliResult> {
    const r = await this.cli(args);
    if (r.code !== expected) throw new Error(`flotilla ${args.join(' ')}: expected exit ${expected}, got ${this.explain(r)}`);
    return r;
  }

  /** `flotilla ARGS --json`, which must succeed, parsed. */
  async json<T>(args: string[]): Promise<T> {
    return JSON.parse((await this.run([...args, '--json'])).stdout) as T;
  }

  /** A CLI result with the fleet's recent logs, for failure messages. */
  explain(r: CliResult): string {
    return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n${this.diagnostics()}`;
  }

  /** Each host's answer on its own port: the demo version it serves, or undefined. */
  answers(): Promise<(string | undefined)[]> {
    return Promise.all(this.agents.map(async (_, i) => (await this.answer(i))?.version));
  }

  /** Assignment seq of every host, by host id. */
  async seqs(): Promise<Map<string, number>> {
    return new Map((await this.hosts()).map((h) => [h.host_id, Number(h.assignment_seq)]));
  }

  /** The app's events, newest first, as `flotilla events` shows them. */
  async events(app = 'demo'): Promise<AppEvent__Output[]> {
    return (await this.json<{ events: AppEvent__Output[] }>(['events', '--app', app])).events;
  }

  /** Waits until every host reports `version` active, running and healthy, and serves it on its port. */
  async waitForFleetOn(version: string, timeoutMs = 30_000): Promise<void> {
    await waitUntil(
      `every host running demo ${version} healthy`,
      async () => {
        const status = await this.json<GetStatusResponse__Output>(['status', 'demo']);
        const ok = status.hosts.every((h) =>
          h.apps.some((a) => a.app === 'demo' && a.active_version === version && a.process_state === 'running' && a.health === 'healthy'),
        );
        return ok && (await this.answers()).every((v) => v === version);
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** Builds a release tarball of the demo app; returns its path. */
  release(version: string, mode: DemoMode = 'good', env: DemoEnv = {}): Promise<string> {
    return buildDemoAppRelease({ version, mode, env, outDir: join(this.dir, 'releases'), ...(this.opts.manifest ? { manifest: this.opts.manifest } : {}) });
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
      ...this.others.map((c, i) => `--- controller ${i + 2} ---\n${c.output()}`),
      ...this.agents.map((a) => `--- ${a.hostId} ---\n${a.process?.tail(25) ?? '(not started)'}`),
    ].join('\n');
  }

  /** Stops agents, their apps, the controller and NATS; removes the temp dir it made. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.agents.map((a) => a.process?.stop()));
    await Promise.all(this.agents.map((a) => killAppsOf(a.dataDir)));
    this.targetClients?.close();
    await Promise.all(this.others.map((c) => c.stop()));
    await this.plane.stop();
    if (this.opts.nats) await this.opts.nats.stop();
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** The controller's extra environment and config file, as the fleet's options ask. */
async function controllerExtras(
  dir: string,
  opts: FleetOptions,
  pki: FleetPki | undefined,
): Promise<{ env?: Record<string, string>; args?: string[] }> {
  const out: { env?: Record<string, string>; args?: string[] } = {};
  if (opts.controllerEnv) out.env = { ...opts.controllerEnv };
  const operators = pki ? '\noperators:\n  - name: demo\n    roles: [{ role: admin }]\n' : '';
  if (opts.controllerConfig !== undefined || pki) {
    const file = join(dir, 'controller.yaml');
    await mkdir(dir, { recursive: true });
    await writeFile(file, `${opts.controllerConfig ?? ''}${operators}`);
    out.args = ['--config', file];
  }
  if (pki) {
    out.args = [
      ...(out.args ?? []),
      '--tls-cert', join(pki.dir, 'controller.pem'),
      '--tls-key', join(pki.dir, 'controller-key.pem'),
      '--tls-ca', pki.ca,
    ];
  }
  if (opts.controllerArgs) out.args = [...(out.args ?? []), ...opts.controllerArgs];
  return out;
}

/** A CA, the controller's certificate, one per host and the operator's, made by the real CLI. */
async function makeFleetPki(dir: string, hosts: number): Promise<FleetPki> {
  await mkdir(dir, { recursive: true });
  const steps = [
    ['tls', 'ca', 'create', '--out-dir', dir],
    ['tls', 'cert', 'create', '--server', '--ca-dir', dir, '--out-dir', dir],
    ['tls', 'cert', 'create', '--operator', 'demo', '--ca-dir', dir, '--out-dir', dir],
    ...Array.from({ length: hosts }, (_, i) => ['tls', 'cert', 'create', '--host', `host-${i + 1}`, '--ca-dir', dir, '--out-dir', dir]),
  ];
  for (const args of steps) {
    const r = await runCli(args, {});
    if (r.code !== 0) throw new Error(`flotilla ${args.join(' ')} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  }
  return { dir, ca: join(dir, 'ca.pem'), operatorCert: join(dir, 'operator-demo.pem'), operatorKey: join(dir, 'operator-demo-key.pem') };
}

/** Runs the built CLI as a process (SIGKILL after `timeoutMs`, scaled). FLOTILLA_* variables of this process are not passed on. */
export function runCli(
  args: string[],
  opts: { controller?: string; env?: Record<string, string>; timeoutMs?: number; cwd?: string; stdio?: 'pipe' | 'inherit' } = {},
): Promise<CliResult> {
  const env = cleanEnv();
  if (opts.controller) env.FLOTILLA_CONTROLLER = opts.controller;
  Object.assign(env, opts.env);
  return runToExit(process.execPath, [CLI_MAIN, ...args], { env, cwd: opts.cwd, timeoutMs: opts.timeoutMs ?? 120_000, stdio: opts.stdio });
}

/**
 * A release of the demo app from deploy/demo/app: its server, and a flotilla.json naming the
 * version and the behaviour (DEMO_MODE) of this release.
 */
export async function buildDemoAppRelease(opts: {
  version: string;
  mode?: DemoMode;
  env?: DemoEnv;
  outDir: string;
  manifest?: Record<string, unknown>;
}): Promise<string> {
  const manifest = JSON.parse(await readFile(join(DEMO_APP_DIR, 'flotilla.json'), 'utf8')) as {
    version?: string;
    start: { env: Record<string, string> };
  };
  manifest.version = opts.version;
  manifest.start.env = { ...manifest.start.env, ...opts.env, DEMO_MODE: opts.mode ?? 'good' };
  Object.assign(manifest, opts.manifest ?? {});
  const file = join(opts.outDir, `demo-${opts.version}.tar.gz`);
  const copied = (name: string) => (path: string) => copyFile(join(DEMO_APP_DIR, name), path);
  await writeReleaseTarball(file, {
    'flotilla.json': `${JSON.stringify(manifest, null, 2)}\n`,
    'server.js': copied('server.js'),
    'package.json': copied('package.json'),
  });
  return file;
}
