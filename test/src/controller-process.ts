import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGetRaw } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { create as createTar } from 'tar';
import {
  loadFlotillaProto,
  type ArtifactsClient,
  type ControlClient,
  type DownloadChunk__Output,
  type UploadResponse__Output,
} from '@flotilla/proto';
import {
  encodeMessage,
  generateKeyPairPem,
  makeDescriptor,
  parsePrivateKey,
  parsePublicKey,
  signDescriptor,
  subjects as makeSubjects,
  type AppStatusReport,
  type Heartbeat,
  type Signed,
  type SignedAssignment,
  type SigningKey,
  type Subjects,
  type SyncReply,
  type TrustedKey,
} from '@flotilla/shared';

/** The built controller program the tests run as a real process. */
export const CONTROLLER_MAIN = fileURLToPath(new URL('../../controller/dist/main.js', import.meta.url));

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}

// ------------------------------------------------------------------------------------------------
// Keys

/** An Ed25519 pair written as NAME.key / NAME.pub, with the parsed halves. */
export interface TestKeyPair {
  keyPath: string;
  pubPath: string;
  keyId: string;
  signer: SigningKey;
  publicKey: TrustedKey;
}

export async function writeTestKeyPair(dir: string, name: string): Promise<TestKeyPair> {
  const pair = generateKeyPairPem();
  const keyPath = join(dir, `${name}.key`);
  const pubPath = join(dir, `${name}.pub`);
  await writeFile(keyPath, pair.privateKeyPem, { mode: 0o600 });
  await writeFile(pubPath, pair.publicKeyPem);
  return {
    keyPath,
    pubPath,
    keyId: pair.keyId,
    signer: parsePrivateKey(pair.privateKeyPem, keyPath),
    publicKey: parsePublicKey(pair.publicKeyPem, pubPath),
  };
}

// ------------------------------------------------------------------------------------------------
// Release tarballs

let tarballCounter = 0;

/**
 * A gzip tarball (bytes) holding `files` at its root. `flotilla.json` is written for you from
 * `manifest` unless `files` has one or `manifest` is null.
 */
export async function releaseTarball(
  dir: string,
  opts: { manifest?: Record<string, unknown> | null; files?: Record<string, string> } = {},
): Promise<Buffer> {
  const src = join(dir, `tarball-src-${process.pid}-${++tarballCounter}`);
  await mkdir(src, { recursive: true });
  const files: Record<string, string> = { 'server.js': 'console.log("hello")\n', ...opts.files };
  if (opts.manifest !== null && !('flotilla.json' in files)) {
    files['flotilla.json'] = JSON.stringify(opts.manifest ?? { start: { command: ['node', 'server.js'] } });
  }
  for (const [name, content] of Object.entries(files)) await writeFile(join(src, name), content);
  const out = `${src}.tar.gz`;
  await createTar({ gzip: true, cwd: src, file: out, portable: true }, Object.keys(files));
  const bytes = await readFile(out);
  await rm(src, { recursive: true, force: true });
  await rm(out, { force: true });
  return bytes;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The release signer's descriptor over `bytes` for app@version. */
export function signArtifact(bytes: Uint8Array, app: string, version: string, key: SigningKey): Signed {
  return signDescriptor(makeDescriptor({ app, version, sha256: sha256Hex(bytes), size: bytes.length }), key);
}

// ------------------------------------------------------------------------------------------------
// The controller as a process

export interface ControllerProcessOptions {
  natsUrl: string;
  /** Working directory for the data dir and ready file (created if missing). */
  dir: string;
  controllerKey: string;
  trustedKeys: string[];
  /** @default `<dir>/data` */
  dataDir?: string;
  apiToken?: string;
  /** More flags (for example --config). */
  args?: string[];
  /** Extra environment variables (FLOTILLA_* ones of the test process are not passed on). */
  env?: Record<string, string>;
  /** @default 'info' */
  logLevel?: string;
  /** @default 15000 */
  readyTimeoutMs?: number;
  /** gRPC listen address. @default '127.0.0.1:0' (a free port) */
  grpcListen?: string;
  /** HTTP listen address. @default '127.0.0.1:0' */
  httpListen?: string;
}

/** A running flotilla-controller, started from controller/dist/main.js. */
export class ControllerProcess {
  private constructor(
    readonly child: ChildProcess,
    /** `127.0.0.1:PORT` of the gRPC listener (from the ready file). */
    readonly grpc: string,
    /** `127.0.0.1:PORT` of the HTTP listener. */
    readonly http: string,
    readonly dataDir: string,
    private readonly logs: { text: string },
    readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  ) {}

  /** Starts the controller with ports chosen by the system and waits for its ready file. */
  static async start(opts: ControllerProcessOptions): Promise<ControllerProcess> {
    await mkdir(opts.dir, { recursive: true });
    const dataDir = opts.dataDir ?? join(opts.dir, 'data');
    const readyFile = join(opts.dir, `ready-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
    const args = [
      CONTROLLER_MAIN,
      '--nats', opts.natsUrl,
      '--grpc-listen', opts.grpcListen ?? '127.0.0.1:0',
      '--http-listen', opts.httpListen ?? '127.0.0.1:0',
      '--data-dir', dataDir,
      '--controller-key', opts.controllerKey,
      ...opts.trustedKeys.flatMap((k) => ['--trusted-key', k]),
      '--ready-file', readyFile,
      '--log-level', opts.logLevel ?? 'info',
      '--no-log-pretty',
      ...(opts.args ?? []),
    ];
    const env: Record<string, string> = { ...cleanEnv(), ...opts.env };
    if (opts.apiToken) env.FLOTILLA_API_TOKEN = opts.apiToken;
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const logs = { text: '' };
    const keep = (b: Buffer) => {
      logs.text = (logs.text + b.toString()).slice(-64 * 1024);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );

    const timeoutMs = opts.readyTimeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    const ready = await Promise.race([
      (async () => {
        while (Date.now() < deadline) {
          try {
            return JSON.parse(await readFile(readyFile, 'utf8')) as { pid: number; grpc: string; http: string };
          } catch {
            await new Promise((r) => setTimeout(r, 25));
          }
        }
        return undefined;
      })(),
      exited.then((e) => e),
    ]);
    if (!ready || !('grpc' in ready)) {
      child.kill('SIGKILL');
      const how = ready ? `exited (${ready.signal ?? ready.code})` : `was not ready within ${timeoutMs} ms`;
      throw new Error(`flotilla-controller ${how}:\n${tail(logs.text)}`);
    }
    return new ControllerProcess(child, ready.grpc, ready.http, dataDir, logs, exited);
  }

  /** The last lines it logged (for failure messages). */
  output(): string {
    return tail(this.logs.text);
  }

  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after 10 s. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      const result = await this.exited;
      clearTimeout(timer);
      return result;
    }
    return this.exited;
  }
}

/** Runs the controller with `args` and waits for it to exit (for start-up failures). */
export async function runControllerToExit(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CONTROLLER_MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...cleanEnv(), ...opts.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FLOTILLA_')) env[k] = v;
  return env;
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** A temp directory for one test file. */
export function controllerTestDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `flotilla-${prefix}-`));
}

// ------------------------------------------------------------------------------------------------
// gRPC clients

export interface ControllerClients {
  artifacts: ArtifactsClient;
  control: ControlClient;
  close(): void;
}

/** Clients of both services; `credentials` for TLS (plaintext by default). */
export function controllerClients(address: string, credentials?: grpc.ChannelCredentials): ControllerClients {
  const proto = loadFlotillaProto();
  const options = { 'grpc.max_receive_message_length': 8 * 1024 * 1024, 'grpc.max_send_message_length': 8 * 1024 * 1024 };
  const creds = credentials ?? grpc.credentials.createInsecure();
  const artifacts = new proto.Artifacts(address, creds, options);
  const control = new proto.Control(address, creds, options);
  return {
    artifacts,
    control,
    close() {
      artifacts.close();
      control.close();
    },
  };
}

/** Metadata with `authorization: Bearer <token>` (or empty). */
export function bearer(token?: string): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token) m.set('authorization', `Bearer ${token}`);
  return m;
}

/** Calls a unary Control method, resolving its response or rejecting with the ServiceError. */
export function unaryCall<Req, Res>(
  client: ControlClient,
  method:
    | 'ListArtifacts'
    | 'ListHosts'
    | 'GetStatus'
    | 'Deploy'
    | 'StartRollout'
    | 'GetRollout'
    | 'ListRollouts'
    | 'RolloutCommand'
    | 'GetHistory',
  request: Req,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client[method] as unknown as (
      r: Req,
      m: grpc.Metadata,
      o: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Res) => void,
    ) => void).bind(client);
    fn(request, metadata, { deadline: Date.now() + 15_000 }, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

/** Uploads: the header (when given) then `bytes` in chunks. */
export function uploadArtifact(
  client: ArtifactsClient,
  header: Signed | null,
  bytes: Uint8Array,
  opts: { chunkBytes?: number; metadata?: grpc.Metadata } = {},
): Promise<UploadResponse__Output> {
  return new Promise((resolve, reject) => {
    const call = client.Upload(opts.metadata ?? new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err, res) =>
      err ? reject(err) : resolve(res as UploadResponse__Output),
    );
    if (header) call.write({ header: { descriptor_json: header.payload, key_id: header.keyId, signature: header.signature } });
    const size = opts.chunkBytes ?? 64 * 1024;
    for (let i = 0; i < bytes.length; i += size) call.write({ chunk: Buffer.from(bytes.subarray(i, i + size)) });
    call.end();
  });
}

/** Downloads from `offset` to the end; resolves the bytes and the chunk offsets seen. */
export function downloadArtifact(
  client: ArtifactsClient,
  sha256: string,
  offset = 0,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<{ data: Buffer; offsets: number[] }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const offsets: number[] = [];
    const call = client.Download({ sha256, offset: String(offset) }, metadata, { deadline: Date.now() + 30_000 });
    call.on('data', (chunk: DownloadChunk__Output) => {
      offsets.push(Number(chunk.offset));
      parts.push(chunk.data);
    });
    call.on('error', reject);
    call.on('end', () => resolve({ data: Buffer.concat(parts), offsets }));
  });
}

// ------------------------------------------------------------------------------------------------
// A host played over NATS

export interface FakeHostOptions {
  labels?: Record<string, string>;
  /** @default 200 */
  heartbeatIntervalMs?: number;
  prefix?: string;
}

/**
 * Plays one agent on NATS: announces, sends heartbeats (by hand or on a timer), asks for its
 * assignment (sync) and records every assignment the controller publishes to it.
 */
export class FakeHost {
  readonly assignments: SignedAssignment[] = [];
  readonly subjects: Subjects;
  readonly intervalMs: number;
  labels: Record<string, string>;
  acceptedSeq = 0;
  apps: AppStatusReport[] = [];
  private n = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly sub: Subscription;
  bootId = `boot-${Math.random().toString(16).slice(2, 10)}`;

  private constructor(
    readonly nc: NatsConnection,
    readonly hostId: string,
    opts: FakeHostOptions,
  ) {
    this.subjects = makeSubjects(opts.prefix ?? 'flotilla');
    this.labels = { ...(opts.labels ?? {}) };
    this.intervalMs = opts.heartbeatIntervalMs ?? 200;
    this.sub = nc.subscribe(this.subjects.assign(hostId), {
      callback: (err, msg) => {
        if (!err) this.assignments.push(msg.json<SignedAssignment>());
      },
    });
  }

  static async connect(natsUrl: string, hostId: string, opts: FakeHostOptions = {}): Promise<FakeHost> {
    // Quick to reconnect, like an agent should be, so tests that restart NATS see hosts return.
    const nc = await connect({ servers: natsUrl, name: `fake-host-${hostId}`, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    const host = new FakeHost(nc, hostId, opts);
    await nc.flush();
    return host;
  }

  announce(): void {
    this.nc.publish(
      this.subjects.announce(this.hostId),
      encodeMessage({
        type: 'announce',
        hostId: this.hostId,
        labels: this.labels,
        inventory: {
          hostname: this.hostId,
          os: 'linux',
          arch: 'x64',
          kernel: '6.1.0',
          cpus: 2,
          memTotalBytes: 4 * 1024 ** 3,
          agentVersion: '0.1.0',
        },
        heartbeatIntervalMs: this.intervalMs,
        bootId: this.bootId,
        sentAtMs: Date.now(),
      }),
    );
  }

  heartbeat(overrides: Partial<Heartbeat> = {}): void {
    this.n += 1;
    const hb: Heartbeat = {
      type: 'heartbeat',
      hostId: this.hostId,
      n: this.n,
      bootId: this.bootId,
      sentAtMs: Date.now(),
      heartbeatIntervalMs: this.intervalMs,
      acceptedSeq: this.acceptedSeq,
      load: { cpuPercent: 3.5, memUsedBytes: 1024 ** 3, memTotalBytes: 4 * 1024 ** 3, diskFreeBytes: 10 * 1024 ** 3 },
      apps: this.apps,
      labels: this.labels,
      ...overrides,
    };
    this.nc.publish(this.subjects.heartbeat(this.hostId), encodeMessage(hb));
  }

  startHeartbeats(): void {
    this.stopHeartbeats();
    this.heartbeat();
    this.timer = setInterval(() => this.heartbeat(), this.intervalMs);
  }

  stopHeartbeats(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Asks for the current assignment, as an agent does at start. */
  async sync(timeoutMs = 5000): Promise<SyncReply> {
    const msg = await this.nc.request(this.subjects.sync(this.hostId), new Uint8Array(), { timeout: timeoutMs });
    return msg.json<SyncReply>();
  }

  async close(): Promise<void> {
    this.stopHeartbeats();
    this.sub.unsubscribe();
    await this.nc.close();
  }
}

// ------------------------------------------------------------------------------------------------
// HTTP

export function httpGetText(address: string, path: string): Promise<{ status: number; body: string; contentType: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGetRaw(`http://${address}${path}`, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, contentType: String(res.headers['content-type'] ?? '') }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}
