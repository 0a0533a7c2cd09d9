import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { get as httpGetRaw } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { loadFlotillaProto } from '@flotilla/proto';
import {
  ASSIGNMENT_TYPE,
  DEFAULT_ASSIGNMENT_TTL_MS,
  decodeHeartbeat,
  encodeMessage,
  makeDescriptor,
  signAssignment,
  signDescriptor,
  subjects,
  type AppAssignment,
  type Assignment,
  type Heartbeat,
  type SignedAssignment,
  type SignedDescriptor,
  type SigningKey,
} from '@flotilla/shared';
import { deadlineMs, delay } from './deadline.js';
import type { TestKeyPair } from './keys.js';
import { sha256Hex, writeReleaseTarball } from './release-tarball.js';
import { spawnChild, type Exit, type Spawned } from './spawn.js';

export { delay } from './deadline.js';
export { writeKeyPair } from './keys.js';

/** The built agent program the tests run as a real process. */
export const AGENT_MAIN = fileURLToPath(new URL('../../agent/dist/main.js', import.meta.url));
/** The agent as a service manager starts it (deploy/systemd/flotilla-agent.service): its bin script. */
export const AGENT_BIN = fileURLToPath(new URL('../../agent/bin/flotilla-agent.js', import.meta.url));

/** A fresh directory under the OS temp dir. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `flotilla-${prefix}-`));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------------------------------------------
// Keys

/** The key pair the agent's tests use: the one writer's pair (keys.ts). */
export type KeyFiles = TestKeyPair;

// ------------------------------------------------------------------------------------------------
// The demo app and its release tarball

export interface DemoRelease {
  app: string;
  version: string;
  path: string;
  bytes: Buffer;
  sha256: string;
  size: number;
}

export interface DemoAppOptions {
  app?: string;
  version: string;
  /** Where to write `<app>-<version>.tar.gz`. */
  outDir: string;
  /** The PORT in the manifest's start.env (hosts override it with --app-env APP:PORT=N). @default 8080 */
  defaultPort?: number;
  /** Extra manifest fields merged over the default manifest (hooks, health...). */
  manifest?: Record<string, unknown>;
}

/**
 * The demo app: an HTTP server on 127.0.0.1:$PORT answering its version on `/` and 200 on
 * `/healthz`, with a manifest that health-checks it over HTTP.
 */
export function demoServerSource(version: string): string {
  return [
    "import { createServer } from 'node:http';",
    `const VERSION = ${JSON.stringify(version)};`,
    'const port = Number(process.env.PORT);',
    'const server = createServer((req, res) => {',
    "  if (req.url === '/healthz') { res.writeHead(200); res.end('ok'); return; }",
    "  res.writeHead(200, { 'content-type': 'text/plain' });",
    '  res.end(VERSION);',
    '});',
    "server.listen(port, '127.0.0.1');",
    "process.on('SIGTERM', () => server.close(() => process.exit(0)));",
    '',
  ].join('\n');
}

export function demoManifest(app: string, version: string, defaultPort = 8080): Record<string, unknown> {
  return {
    schema: 1,
    app,
    version,
    start: { command: [process.execPath, 'server.mjs'], env: { PORT: String(defaultPort) } },
    stop: { signal: 'SIGTERM', timeout: '5s' },
    health: { http: { url: 'http://127.0.0.1:${PORT}/healthz' }, interval: '250ms', timeout: '1s' },
  };
}

/** Builds the demo app's release tarball (gzip) in code. */
export async function buildDemoRelease(opts: DemoAppOptions): Promise<DemoRelease> {
  const app = opts.app ?? 'demo';
  const manifest = { ...demoManifest(app, opts.version, opts.defaultPort), ...(opts.manifest ?? {}) };
  const path = join(opts.outDir, `${app}-${opts.version}.tar.gz`);
  await writeReleaseTarball(path, { 'flotilla.json': `${JSON.stringify(manifest, null, 2)}\n`, 'server.mjs': demoServerSource(opts.version) });
  const bytes = await readFile(path);
  return { app, version: opts.version, path, bytes, sha256: sha256Hex(bytes), size: bytes.length };
}

/** The release signer's descriptor for a release. */
export function signRelease(release: Pick<DemoRelease, 'app' | 'version' | 'sha256' | 'size'>, key: SigningKey): SignedDescriptor {
  return signDescriptor(makeDescriptor({ app: release.app, version: release.version, sha256: release.sha256, size: release.size }), key);
}

// ------------------------------------------------------------------------------------------------
// A stand-in for the controller's artifact service

/**
 * A tiny Artifacts gRPC server on 127.0.0.1:0 that serves Download from bytes registered by
 * SHA-256 and counts the requests it sees.
 */
export class ArtifactServer {
  readonly requests: Array<{ sha256: string; offset: number }> = [];
  /** Downloads the client called off (the stream was cancelled before its end). */
  readonly cancelled: string[] = [];
  private readonly blobs = new Map<string, Buffer>();
  private readonly stalled = new Set<string>();

  private constructor(
    private readonly server: grpc.Server,
    readonly address: string,
  ) {}

  /** `port`: 0 for any free one; a given one to bring a "controller" up where agents already point. */
  static async start(port = 0): Promise<ArtifactServer> {
    const proto = loadFlotillaProto();
    const server = new grpc.Server();
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const self = new ArtifactServer(server, `127.0.0.1:${bound}`);
    server.addService(proto.Artifacts.service, {
      Download: (call: grpc.ServerWritableStream<{ sha256: string; offset: string }, { offset: string; data: Buffer }>) =>
        void self.download(call),
      Upload: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
        callback({ code: grpc.status.UNIMPLEMENTED, details: 'not in this test server' }),
    });
    return self;
  }

  /** Serves `bytes` under `sha256` (which need not be their real hash: tampering tests). */
  serve(sha256: string, bytes: Buffer): void {
    this.blobs.set(sha256, bytes);
  }

  /**
   * Downloads of `sha256` send their first chunk, then nothing more until `unstall` (or until
   * the client cancels): an install that stays in flight for as long as a test needs.
   */
  stall(sha256: string): void {
    this.stalled.add(sha256);
  }

  unstall(sha256: string): void {
    this.stalled.delete(sha256);
  }

  downloadsOf(sha256: string): number {
    return this.requests.filter((r) => r.sha256 === sha256).length;
  }

  private async download(
    call: grpc.ServerWritableStream<{ sha256: string; offset: string }, { offset: string; data: Buffer }>,
  ): Promise<void> {
    const sha256 = call.request.sha256;
    const offset = Number(call.request.offset || '0');
    this.requests.push({ sha256, offset });
    const bytes = this.blobs.get(sha256);
    if (!bytes) {
      call.emit('error', { code: grpc.status.NOT_FOUND, details: `no artifact ${sha256}` });
      return;
    }
    if (offset > bytes.length) {
      call.emit('error', { code: grpc.status.OUT_OF_RANGE, details: `offset ${offset} is past the end` });
      return;
    }
    const chunk = this.stalled.has(sha256) ? 256 : 64 * 1024;
    for (let at = offset; at < bytes.length && !call.cancelled; at += chunk) {
      const data = bytes.subarray(at, Math.min(bytes.length, at + chunk));
      if (!call.write({ offset: String(at), data })) await new Promise((r) => call.once('drain', r));
      // Bounded: a stalled stream gives up after a minute whatever happens.
      for (let waited = 0; this.stalled.has(sha256) && !call.cancelled && waited < 60_000; waited += 25) await delay(25);
    }
    if (call.cancelled) {
      this.cancelled.push(sha256);
      return;
    }
    call.end();
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

// ------------------------------------------------------------------------------------------------
// The agent as a real process

export interface AgentProcessOptions {
  hostId: string;
  natsUrl: string;
  dataDir: string;
  controller: string;
  trustedKeys: string[];
  controllerPublicKeys: string[];
  /** `APP:NAME=VALUE` entries. */
  appEnv?: string[];
  labels?: string[];
  /** null: the agent's own default. @default '1s' */
  heartbeatInterval?: string | null;
  /** @default 'debug' */
  logLevel?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** The script to run. @default AGENT_MAIN (agent/bin/flotilla-agent.js is what a service manager runs) */
  program?: string;
  /** Node flags before the script (--cpu-prof...). */
  nodeArgs?: string[];
}

/** A running flotilla-agent with its output kept for assertions and failure messages. */
export class AgentProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;

  private constructor(private readonly proc: Spawned) {
    this.child = proc.child;
    this.exited = proc.exited;
  }

  /**
   * Spawns the agent. It publishes no ready signal of its own: tests wait for what they need
   * from it (a heartbeat, a log line, the host up at the controller).
   */
  static spawn(opts: AgentProcessOptions): AgentProcess {
    const interval = opts.heartbeatInterval === undefined ? '1s' : opts.heartbeatInterval;
    const args = [
      ...(opts.nodeArgs ?? []),
      opts.program ?? AGENT_MAIN,
      '--host-id', opts.hostId,
      '--nats', opts.natsUrl,
      '--controller', opts.controller,
      '--data-dir', opts.dataDir,
      ...(interval === null ? [] : ['--heartbeat-interval', interval]),
      '--log-level', opts.logLevel ?? 'debug',
      '--no-log-pretty',
      ...opts.trustedKeys.flatMap((k) => ['--trusted-key', k]),
      ...opts.controllerPublicKeys.flatMap((k) => ['--controller-public-key', k]),
      ...(opts.appEnv ?? []).flatMap((e) => ['--app-env', e]),
      ...(opts.labels ?? []).flatMap((l) => ['--label', l]),
      ...(opts.extraArgs ?? []),
    ];
    const proc = spawnChild({
      what: `agent ${opts.hostId}`,
      command: process.execPath,
      args,
      // Tests run apps as the agent's user unless they say otherwise: their temporary data
      // directories are private, and a host that happens to have the default app user must not
      // change what every other test sees.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        FLOTILLA_RUN_APPS_AS_AGENT: 'true',
        ...(opts.env ?? {}),
      },
      keepBytes: 1_000_000,
    });
    return new AgentProcess(proc);
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Everything the agent printed so far. */
  get logs(): string {
    return this.proc.output();
  }

  /** The agent's JSON log lines, parsed (lines that are not JSON are skipped). */
  logLines(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const line of this.proc.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut short by the buffer limit
      }
    }
    return out;
  }

  /** Waits until a log line matches (bounded: `timeoutMs` scaled, or the agent's exit); returns it. */
  async waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const limitMs = deadlineMs(timeoutMs);
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
      const line = this.logLines().find(match);
      if (line) return line;
      if (!this.proc.running()) break;
      await delay(50);
    }
    throw new Error(`no matching agent log line within ${limitMs} ms; agent output tail:\n${this.tail()}`);
  }

  tail(lines = 40): string {
    return this.proc.tail(lines);
  }

  /** SIGTERM, then wait for the exit (SIGKILL after `timeoutMs`, scaled). */
  stop(timeoutMs = 15_000): Promise<Exit> {
    return this.proc.stop('SIGTERM', timeoutMs);
  }

  /** SIGKILL: the agent dies without any chance to clean up. */
  async kill(): Promise<void> {
    await this.proc.stop('SIGKILL');
  }
}

/** Kills the process groups of the apps an agent left behind (their pids come from state.json). */
export async function killAppsOf(dataDir: string): Promise<void> {
  let state: { apps?: Record<string, { process?: { pid?: number } | null }> };
  try {
    state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8'));
  } catch {
    return;
  }
  for (const entry of Object.values(state.apps ?? {})) {
    const pid = entry.process?.pid;
    if (typeof pid !== 'number' || pid <= 1) continue;
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** True while a process with this pid exists. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ------------------------------------------------------------------------------------------------
// HTTP

/** GET http://127.0.0.1:PORT/path; never throws for connection errors (status 0). */
export function httpGet(port: number, path = '/', timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = httpGetRaw({ host: '127.0.0.1', port, path, timeout: deadlineMs(timeoutMs) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

// ------------------------------------------------------------------------------------------------
// Heartbeats

/** Short text of a heartbeat's app reports, for failure messages. */
export function describeHeartbeat(hb: Heartbeat | undefined): string {
  if (!hb) return '(no heartbeat seen)';
  const apps = hb.apps
    .map(
      (a) =>
        `${a.app}: desired=${a.desiredVersion} active=${a.activeVersion} ${a.processState}/${a.health} pid=${a.pid} ` +
        `install=${a.installPhase}(${a.installVersion}) error=${a.error}`,
    )
    .join('; ');
  return `n=${hb.n} acceptedSeq=${hb.acceptedSeq} apps=[${apps}]`;
}

/** Listens to one host's heartbeats and lets tests wait for one that satisfies a predicate. */
export class HeartbeatWatch {
  last: Heartbeat | undefined;
  private waiters = new Set<{ pred: (hb: Heartbeat) => boolean; resolve: (hb: Heartbeat) => void }>();
  private readonly sub: Subscription;

  constructor(nc: NatsConnection, hostId: string, prefix = 'flotilla') {
    const sub = nc.subscribe(subjects(prefix).heartbeat(hostId));
    this.sub = sub;
    void (async () => {
      for await (const m of sub) {
        let hb: Heartbeat;
        try {
          hb = decodeHeartbeat(m.data);
        } catch {
          continue;
        }
        this.last = hb;
        for (const w of [...this.waiters]) {
          if (w.pred(hb)) {
            this.waiters.delete(w);
            w.resolve(hb);
          }
        }
      }
    })();
  }

  /**
   * Resolves with the first heartbeat from now on that satisfies `pred`; rejects after
   * `timeoutMs` with the last heartbeat seen (and `context()`, e.g. the agent's log tail).
   */
  waitFor(pred: (hb: Heartbeat) => boolean, timeoutMs = 30_000, context?: () => string): Promise<Heartbeat> {
    const limitMs = deadlineMs(timeoutMs);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (hb: Heartbeat) => {
          clearTimeout(timer);
          resolve(hb);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(
          new Error(
            `no matching heartbeat within ${limitMs} ms; last: ${describeHeartbeat(this.last)}${context ? `\n${context()}` : ''}`,
          ),
        );
      }, limitMs);
      this.waiters.add(waiter);
    });
  }

  stop(): void {
    this.sub.unsubscribe();
  }
}

/** A heartbeat predicate: `app` runs `version`, healthy. */
export function runsHealthy(app: string, version: string) {
  return (hb: Heartbeat) =>
    hb.apps.some(
      (a) => a.app === app && a.activeVersion === version && a.processState === 'running' && a.health === 'healthy' && a.pid !== null,
    );
}

// ------------------------------------------------------------------------------------------------
// A stand-in for the controller's side of the NATS conversation

/**
 * Plays the controller towards agents: signs each host's assignment with the controller key,
 * publishes it on `assign.<host>` and answers `sync.<host>` with the current one.
 */
export class ControllerStandIn {
  private readonly current = new Map<string, SignedAssignment>();
  private readonly seqs = new Map<string, number>();
  private readonly syncSub: Subscription;
  readonly syncRequests: string[] = [];

  private constructor(
    readonly nc: NatsConnection,
    private readonly key: SigningKey,
    readonly prefix: string,
  ) {
    const s = subjects(prefix);
    const syncSub = nc.subscribe(s.allSync);
    this.syncSub = syncSub;
    void (async () => {
      for await (const m of syncSub) {
        const hostId = s.hostIdOf(m.subject);
        if (hostId === undefined) continue;
        this.syncRequests.push(hostId);
        m.respond(encodeMessage({ type: 'sync-reply', assignment: this.current.get(hostId) ?? null }));
      }
    })();
  }

  static async start(natsUrl: string, controllerKey: SigningKey, prefix = 'flotilla'): Promise<ControllerStandIn> {
    const nc = await connect({ servers: natsUrl, name: 'test-controller' });
    return new ControllerStandIn(nc, controllerKey, prefix);
  }

  /** Builds and signs the host's next assignment (seq + 1) without sending it. */
  next(hostId: string, apps: Record<string, AppAssignment>, key: SigningKey = this.key): { assignment: Assignment; signed: SignedAssignment } {
    const seq = (this.seqs.get(hostId) ?? 0) + 1;
    this.seqs.set(hostId, seq);
    const now = Date.now();
    const assignment: Assignment = { type: ASSIGNMENT_TYPE, hostId, epoch: 1, seq, issuedAtMs: now, expiresAtMs: now + DEFAULT_ASSIGNMENT_TTL_MS, apps };
    return { assignment, signed: signAssignment(assignment, key) };
  }

  /** Makes `apps` the host's assignment: kept for sync, and published (unless `publish` is false). */
  async assign(hostId: string, apps: Record<string, AppAssignment>, publish = true): Promise<{ seq: number; signed: SignedAssignment }> {
    const { assignment, signed } = this.next(hostId, apps);
    this.current.set(hostId, signed);
    if (publish) await this.publish(hostId, signed);
    return { seq: assignment.seq, signed };
  }

  /** Sends any signed assignment (a replay, a forgery) on the host's assign subject. */
  async publish(hostId: string, signed: SignedAssignment): Promise<void> {
    this.nc.publish(subjects(this.prefix).assign(hostId), encodeMessage(signed));
    await this.nc.flush();
  }

  async stop(): Promise<void> {
    await this.nc.drain().catch(() => undefined);
  }
}
