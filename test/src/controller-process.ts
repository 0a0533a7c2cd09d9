import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  loadFlotillaProto,
  type ArtifactsClient,
  type ControlClient,
  type DownloadChunk__Output,
  type UploadResponse__Output,
} from '@flotilla/proto';
import {
  encodeMessage,
  hostInboxPrefix,
  makeDescriptor,
  signDescriptor,
  subjects as makeSubjects,
  type AppStatusReport,
  type Heartbeat,
  type Signed,
  type SignedAssignment,
  type SigningKey,
  type Subjects,
  type SyncReply,
} from '@flotilla/shared';
import { deadlineMs } from './deadline.js';
import { announceMessage, heartbeatMessage } from './host-messages.js';
import { writeKeyPair } from './keys.js';
import { releaseTarballBytes, sha256Hex, type ReleaseFile } from './release-tarball.js';
import { cleanEnv, runToExit, spawnReady, type Exit, type Spawned } from './spawn.js';

export { waitUntil } from './deadline.js';
export { sha256Hex } from './release-tarball.js';
export type { TestKeyPair } from './keys.js';

/** The built controller program the tests run as a real process. */
export const CONTROLLER_MAIN = fileURLToPath(new URL('../../controller/dist/main.js', import.meta.url));

// ------------------------------------------------------------------------------------------------
// Keys

/** The one key-pair writer (keys.ts), by the name the controller's tests know it. */
export const writeTestKeyPair = writeKeyPair;

// ------------------------------------------------------------------------------------------------
// Release tarballs

/**
 * A gzip tarball (bytes) holding `files` at its root. `flotilla.json` is written for you from
 * `manifest` unless `files` has one or `manifest` is null.
 */
export async function releaseTarball(
  // Kept for the callers: the bytes are built in a scratch directory of their own.
  _dir: string,
  opts: { manifest?: Record<string, unknown> | null; files?: Record<string, string> } = {},
): Promise<Buffer> {
  const files: Record<string, ReleaseFile> = { 'server.js': 'console.log("hello")\n', ...opts.files };
  if (opts.manifest !== null && !('flotilla.json' in files)) {
    files['flotilla.json'] = JSON.stringify(opts.manifest ?? { start: { command: ['node', 'server.js'] } });
  }
  return releaseTarballBytes(files);
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
  /** Before the deadline scale. @default 15000 */
  readyTimeoutMs?: number;
  /** gRPC listen address. @default '127.0.0.1:0' (a free port) */
  grpcListen?: string;
  /** HTTP listen address. @default '127.0.0.1:0' */
  httpListen?: string;
  /** Node flags before the program (--cpu-prof, --heapsnapshot-signal...). */
  nodeArgs?: string[];
  /** The process's working directory. @default this process's */
  cwd?: string;
}

/** A running flotilla-controller, started from controller/dist/main.js. */
export class ControllerProcess {
  readonly child: Spawned['child'];
  readonly exited: Promise<Exit>;

  private constructor(
    private readonly proc: Spawned,
    /** `127.0.0.1:PORT` of the gRPC listener (from the ready file). */
    readonly grpc: string,
    /** `127.0.0.1:PORT` of the HTTP listener. */
    readonly http: string,
    readonly dataDir: string,
  ) {
    this.child = proc.child;
    this.exited = proc.exited;
  }

  /** Starts the controller with ports chosen by the system and waits for its ready file. */
  static async start(opts: ControllerProcessOptions): Promise<ControllerProcess> {
    await mkdir(opts.dir, { recursive: true });
    const dataDir = opts.dataDir ?? join(opts.dir, 'data');
    const readyFile = join(opts.dir, `ready-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
    const env: Record<string, string> = { ...cleanEnv(), ...opts.env };
    if (opts.apiToken) env.FLOTILLA_API_TOKEN = opts.apiToken;
    const { proc, ready } = await spawnReady({
      what: 'flotilla-controller',
      command: process.execPath,
      args: [
        ...(opts.nodeArgs ?? []),
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
      ],
      env,
      cwd: opts.cwd,
      readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
      // The controller writes the file once both listeners are bound; a half-written one fails to parse.
      ready: async () => JSON.parse(await readFile(readyFile, 'utf8')) as { pid: number; grpc: string; http: string },
    });
    return new ControllerProcess(proc, ready.grpc, ready.http, dataDir);
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** The last lines it logged (for failure messages). */
  output(): string {
    return this.proc.tail(40);
  }

  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after 10 s (scaled). */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    return this.proc.stop(signal, 10_000);
  }
}

/** Runs the controller with `args` and waits for it to exit (for start-up failures). */
export function runControllerToExit(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runToExit(process.execPath, [CONTROLLER_MAIN, ...args], { env: { ...cleanEnv(), ...opts.env }, timeoutMs: opts.timeoutMs ?? 15_000 });
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
  /** Before the deadline scale. */
  timeoutMs = 15_000,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client[method] as unknown as (
      r: Req,
      m: grpc.Metadata,
      o: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Res) => void,
    ) => void).bind(client);
    fn(request, metadata, { deadline: Date.now() + deadlineMs(timeoutMs) }, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

/** The error a call was refused with; fails when the call succeeds. */
export async function refusal(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to be refused');
}

/** Uploads: the header (when given) then `bytes` in chunks. */
export function uploadArtifact(
  client: ArtifactsClient,
  header: Signed | null,
  bytes: Uint8Array,
  opts: { chunkBytes?: number; metadata?: grpc.Metadata } = {},
): Promise<UploadResponse__Output> {
  return new Promise((resolve, reject) => {
    const call = client.Upload(opts.metadata ?? new grpc.Metadata(), { deadline: Date.now() + deadlineMs(30_000) }, (err, res) =>
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
    const call = client.Download({ sha256, offset: String(offset) }, metadata, { deadline: Date.now() + deadlineMs(30_000) });
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
  /** The host's NATS user and password, for servers with authorization. @default none */
  auth?: { user: string; pass: string };
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
    const nc = await connect({
      servers: natsUrl,
      name: `fake-host-${hostId}`,
      inboxPrefix: hostInboxPrefix(hostId),
      ...(opts.auth ?? {}),
      reconnectTimeWait: 100,
      maxReconnectAttempts: -1,
    });
    const host = new FakeHost(nc, hostId, opts);
    await nc.flush();
    return host;
  }

  /** `assignmentProofs`: announce as an agent that takes step-signed assignments. @default false, as an older agent */
  announce(opts: { assignmentProofs?: boolean } = {}): void {
    this.nc.publish(this.subjects.announce(this.hostId), encodeMessage(announceMessage(this.identity(), opts)));
  }

  heartbeat(overrides: Partial<Heartbeat> = {}): void {
    this.n += 1;
    const hb = heartbeatMessage(this.identity(), { n: this.n, acceptedSeq: this.acceptedSeq, apps: this.apps });
    this.nc.publish(this.subjects.heartbeat(this.hostId), encodeMessage({ ...hb, ...overrides }));
  }

  private identity() {
    return { hostId: this.hostId, bootId: this.bootId, heartbeatIntervalMs: this.intervalMs, labels: this.labels };
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
    const msg = await this.nc.request(this.subjects.sync(this.hostId), new Uint8Array(), { timeout: deadlineMs(timeoutMs) });
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

/**
 * The controller's HTTP listener: `HOST:PORT` for plain HTTP, or with the CA its certificate
 * chains to when it serves HTTPS (a controller started with TLS).
 */
export type HttpTarget = string | { readonly address: string; readonly ca: Buffer };

/** Starts a request to `target` (HTTP or HTTPS, as the target says). */
export function requestTo(target: HttpTarget, opts: RequestOptions, onResponse: (res: IncomingMessage) => void): ClientRequest {
  const address = typeof target === 'string' ? target : target.address;
  const colon = address.lastIndexOf(':');
  const where = { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
  return typeof target === 'string'
    ? httpRequest({ ...where, ...opts }, onResponse)
    : // No SNI: the controller is dialled by IP address, which SNI may not carry (RFC 6066); the
      // certificate is still checked against that address.
      httpsRequest({ ...where, ...opts, ca: target.ca, servername: '' }, onResponse);
}

/** GET PATH from the target as text (loopback only); rejects when nothing answers. */
export function httpGetText(
  target: HttpTarget,
  path: string,
  /** Before the deadline scale. */
  timeoutMs = 5000,
): Promise<{ status: number; body: string; contentType: string }> {
  return new Promise((resolve, reject) => {
    const req = requestTo(target, { path, method: 'GET', timeout: deadlineMs(timeoutMs) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, contentType: String(res.headers['content-type'] ?? '') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
