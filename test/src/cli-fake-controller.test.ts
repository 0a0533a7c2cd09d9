// The `flotilla` CLI against a fake controller: a real gRPC server on loopback that implements the
// proto's services with canned answers and records what it received. Verbs run in-process (exit
// code and output asserted directly) and, for a few, as the built program in a real process.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deadlineMs } from './deadline.js';
import {
  loadFlotillaProto,
  type ArtifactInfo,
  type DeployRequest__Output,
  type GetRolloutRequest__Output,
  type GetStatusRequest__Output,
  type GetStatusResponse,
  type HostInfo,
  type ListArtifactsRequest__Output,
  type ListHostsRequest__Output,
  type Rollout__Output,
  type WatchRolloutRequest__Output,
  type SignedDescriptor__Output,
  type UploadResponse,
} from '@flotilla/proto';
import { loadTrustedKeys, verifyDescriptor } from '@flotilla/shared';
import { runCli } from '../../controller/src/cli/index.js';
import { captureContext, testReport, testRollout, testRolloutHost } from '../../controller/src/cli/testing.js';
import { createControllerClient } from '../../controller/src/cli/client.js';

const CLI_MAIN = fileURLToPath(new URL('../../controller/dist/cli/main.js', import.meta.url));
const NOW = Date.now();

// ---------------------------------------------------------------------------------------------
// The fake controller
// ---------------------------------------------------------------------------------------------

/** A gRPC status a handler throws to fail the call, as the real controller would. */
class Refusal {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    readonly flotillaCode?: string,
  ) {}
}

interface Handlers {
  listArtifacts: (req: ListArtifactsRequest__Output) => { artifacts: ArtifactInfo[] };
  listHosts: (req: ListHostsRequest__Output) => { hosts: HostInfo[] };
  getStatus: (req: GetStatusRequest__Output, callNo: number) => GetStatusResponse;
  deploy: (req: DeployRequest__Output) => { assigned: { host_id: string; seq: string }[]; rollout_id?: string };
  getRollout: (req: GetRolloutRequest__Output, callNo: number) => { rollout: Rollout__Output };
  /** The states WatchRollout streams, in order, before it ends. */
  watchRollout: (req: WatchRolloutRequest__Output) => Rollout__Output[];
  /** Decides the answer once the header arrived (throw a Refusal to refuse before the bytes). */
  uploadHeader: (header: SignedDescriptor__Output) => void;
  upload: (header: SignedDescriptor__Output, bytes: Buffer) => UploadResponse;
  /** Never answer unary calls (to exercise the client's deadline). */
  hang: boolean;
  /** Pause reading the upload for this long after the first chunk (back-pressure on the client). */
  pauseUploadMs: number;
}

interface Received {
  method: string;
  request: unknown;
  authorization: string | undefined;
}

interface RecordedUpload {
  header: SignedDescriptor__Output | undefined;
  /** Message kinds in arrival order: 'header' or 'chunk'. */
  order: string[];
  chunkSizes: number[];
  bytes: Buffer;
  authorization: string | undefined;
}

interface FakeController {
  address: string;
  handlers: Handlers;
  received: Received[];
  uploads: RecordedUpload[];
  statusCalls: number;
  rolloutCalls: number;
  stop(): Promise<void>;
}

function defaultHandlers(): Handlers {
  return {
    listArtifacts: () => ({ artifacts: [] }),
    listHosts: () => ({ hosts: [] }),
    getStatus: () => ({ hosts: [], apps: [] }),
    deploy: () => ({ assigned: [] }),
    getRollout: () => ({ rollout: testRollout() }),
    watchRollout: () => [],
    uploadHeader: () => {},
    upload: () => ({ artifact: null, already_present: false }),
    hang: false,
    pauseUploadMs: 0,
  };
}

function respond<T>(callback: grpc.sendUnaryData<T>, produce: () => T): void {
  try {
    callback(null, produce());
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    const metadata = new grpc.Metadata();
    if (err.flotillaCode) metadata.set('flotilla-error-code', err.flotillaCode);
    callback({ code: err.code, details: err.details, metadata });
  }
}

async function startFakeController(): Promise<FakeController> {
  const proto = loadFlotillaProto();
  const server = new grpc.Server();
  const fake: FakeController = {
    address: '',
    handlers: defaultHandlers(),
    received: [],
    uploads: [],
    statusCalls: 0,
    rolloutCalls: 0,
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // A hung call would hold a graceful shutdown open.
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
  const auth = (md: grpc.Metadata) => md.get('authorization')[0]?.toString();
  const unary =
    <Req, Res>(method: string, handle: (req: Req) => Res): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      fake.received.push({ method, request: call.request, authorization: auth(call.metadata) });
      if (fake.handlers.hang) return;
      respond(callback, () => handle(call.request));
    };

  server.addService(proto.Control.service, {
    ListArtifacts: unary('ListArtifacts', (r: ListArtifactsRequest__Output) => fake.handlers.listArtifacts(r)),
    ListHosts: unary('ListHosts', (r: ListHostsRequest__Output) => fake.handlers.listHosts(r)),
    GetStatus: unary('GetStatus', (r: GetStatusRequest__Output) => fake.handlers.getStatus(r, fake.statusCalls++)),
    Deploy: unary('Deploy', (r: DeployRequest__Output) => fake.handlers.deploy(r)),
    GetRollout: unary('GetRollout', (r: GetRolloutRequest__Output) => fake.handlers.getRollout(r, fake.rolloutCalls++)),
    WatchRollout: (call: grpc.ServerWritableStream<WatchRolloutRequest__Output, Rollout__Output>) => {
      fake.received.push({ method: 'WatchRollout', request: call.request, authorization: auth(call.metadata) });
      for (const state of fake.handlers.watchRollout(call.request)) call.write(state);
      call.end();
    },
  });
  server.addService(proto.Artifacts.service, {
    Upload: (call: grpc.ServerReadableStream<{ header?: SignedDescriptor__Output; chunk?: Buffer }, UploadResponse>, callback: grpc.sendUnaryData<UploadResponse>) => {
      const rec: RecordedUpload = { header: undefined, order: [], chunkSizes: [], bytes: Buffer.alloc(0), authorization: auth(call.metadata) };
      fake.uploads.push(rec);
      const parts: Buffer[] = [];
      let answered = false;
      const answer = (produce: () => UploadResponse) => {
        if (answered) return;
        answered = true;
        respond(callback, produce);
      };
      call.on('data', (msg) => {
        if (msg.header) {
          rec.order.push('header');
          rec.header = msg.header;
          try {
            fake.handlers.uploadHeader(msg.header);
          } catch (err) {
            answer(() => {
              throw err;
            });
          }
          return;
        }
        rec.order.push('chunk');
        const chunk = msg.chunk ?? Buffer.alloc(0);
        rec.chunkSizes.push(chunk.length);
        parts.push(chunk);
        if (fake.handlers.pauseUploadMs > 0 && rec.chunkSizes.length === 1) {
          call.pause();
          setTimeout(() => call.resume(), fake.handlers.pauseUploadMs);
        }
      });
      call.on('end', () => {
        rec.bytes = Buffer.concat(parts);
        answer(() => fake.handlers.upload(rec.header as SignedDescriptor__Output, rec.bytes));
      });
    },
    Download: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'not in this fake' });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  fake.address = `127.0.0.1:${port}`;
  return fake;
}

/** A loopback port on which nothing listens: bound once to learn it, then released. */
async function closedPort(): Promise<number> {
  const server = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// Canned fleet data
// ---------------------------------------------------------------------------------------------

function appStatus(over: Partial<NonNullable<HostInfo['apps']>[number]> = {}) {
  return {
    app: 'web',
    desired_version: '1.4.2',
    active_version: '1.4.2',
    process_state: 'running',
    pid: 4242,
    restarts: 0,
    health: 'healthy',
    health_since_ms: String(NOW - 60_000),
    install_phase: 'done',
    install_version: '1.4.2',
    error: '',
    updated_at_ms: String(NOW - 1000),
    ...over,
  };
}

function hostInfo(id: string, over: Partial<HostInfo> = {}): HostInfo {
  return {
    host_id: id,
    labels: { env: 'prod', zone: 'a' },
    state: 'up',
    first_seen_ms: String(NOW - 86_400_000),
    last_seen_ms: String(NOW - 3_000),
    inventory: { hostname: id, os: 'Debian 12', arch: 'x64', kernel: '6.1', cpus: 4, mem_total_bytes: String(8 * 1024 ** 3), agent_version: '0.1.0' },
    load: { cpu_percent: 7.5, mem_used_bytes: String(2 * 1024 ** 3), mem_total_bytes: String(8 * 1024 ** 3), disk_free_bytes: String(50 * 1024 ** 3) },
    assignment_seq: '4',
    accepted_seq: '4',
    apps: [appStatus()],
    heartbeat_interval_ms: '5000',
    ...over,
  };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------

let fake: FakeController;
let dir: string;
let key: string;
let pub: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-'));
  const c = captureContext();
  expect(await runCli(['keys', 'generate', 'release', '--out-dir', dir], c.ctx)).toBe(0);
  key = join(dir, 'release.key');
  pub = join(dir, 'release.pub');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  fake = await startFakeController();
});
afterEach(async () => {
  await fake.stop();
});

/** Runs the CLI in-process against the fake, with the deploy poll clock faked (no real waiting). */
async function cli(argv: string[], options: { env?: Record<string, string> } = {}) {
  const c = captureContext({ connect: createControllerClient, env: options.env ?? {}, nowMs: NOW });
  const code = await runCli(['--controller', fake.address, ...argv], c.ctx);
  return { code, out: c.out(), err: c.err() };
}

function artifactFile(name: string, size: number): { path: string; bytes: Buffer } {
  const bytes = gzipSync(randomBytes(size), { level: 0 });
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

describe('artifact push', () => {
  it('streams the signed header, then the exact bytes in 256 KiB chunks, with the token', async () => {
    const { path, bytes } = artifactFile('web-1.4.2.tar.gz', 1024 * 1024 + 12_345);
    fake.handlers.upload = (header, received) => ({
      artifact: { app: 'web', version: '1.4.2', sha256: sha256(received), size: String(received.length), key_id: header.key_id, uploaded_at_ms: String(NOW), signed: header },
      already_present: false,
    });
    const r = await cli(['--token', 's3cret', 'artifact', 'push', path, '--app', 'web', '--version', '1.4.2', '--key', key]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(fake.uploads).toHaveLength(1);
    const up = fake.uploads[0]!;
    expect(up.order[0]).toBe('header');
    expect(up.order.slice(1).every((k) => k === 'chunk')).toBe(true);
    expect(up.bytes.equals(bytes)).toBe(true);
    expect(up.chunkSizes.every((n) => n > 0 && n <= 256 * 1024)).toBe(true);
    expect(up.chunkSizes[0]).toBe(256 * 1024);
    expect(up.authorization).toBe('Bearer s3cret');
    const signed = { payload: up.header!.descriptor_json, keyId: up.header!.key_id, signature: up.header!.signature };
    expect(verifyDescriptor(signed, loadTrustedKeys([pub]), { app: 'web', version: '1.4.2', sha256: sha256(bytes) }).size).toBe(bytes.length);
    expect(r.out).toMatch(/^pushed web@1\.4\.2 \(1\.0 MiB, signed by key [0-9a-f]{16}\)\n/);
    expect(r.out).toContain(`sha256 ${sha256(bytes)}\n`);
  });

  it('waits for the controller to read when it falls behind, and loses no byte', async () => {
    const { path, bytes } = artifactFile('big.tar.gz', 8 * 1024 * 1024);
    fake.handlers.pauseUploadMs = 300;
    fake.handlers.upload = (header, received) => ({
      artifact: { app: 'web', version: '3', sha256: sha256(received), size: String(received.length), key_id: header.key_id },
      already_present: false,
    });
    const r = await cli(['artifact', 'push', path, '--app', 'web', '--version', '3', '--key', key]);
    expect(r.code).toBe(0);
    expect(fake.uploads[0]!.bytes.equals(bytes)).toBe(true);
  });

  it('uploads a pre-signed descriptor and says when the artifact was already present (--json prints the ArtifactInfo)', async () => {
    const { path, bytes } = artifactFile('web-2.tar.gz', 50_000);
    const sig = join(dir, 'web-2.sig.json');
    const signed = await cli(['artifact', 'sign', path, '--app', 'web', '--version', '2', '--key', key, '--out', sig]);
    expect(signed.code).toBe(0);
    fake.handlers.upload = (header) => ({
      artifact: { app: 'web', version: '2', sha256: sha256(bytes), size: String(bytes.length), key_id: header.key_id, uploaded_at_ms: '1700000000000', signed: header },
      already_present: true,
    });
    const human = await cli(['artifact', 'push', path, '--app', 'web', '--version', '2', '--signature', sig]);
    expect(human.code).toBe(0);
    expect(human.out).toBe(`web@2 already present (same bytes), nothing uploaded\nsha256 ${sha256(bytes)}\n`);

    const json = await cli(['artifact', 'push', path, '--app', 'web', '--version', '2', '--signature', sig, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({
      app: 'web',
      version: '2',
      sha256: sha256(bytes),
      size: String(bytes.length),
      uploaded_at_ms: '1700000000000',
      already_present: true,
    });
  });

  it('reports the controller refusing the signature right after the header (exit 1), without hanging on a big file', async () => {
    const { path } = artifactFile('refused.tar.gz', 6 * 1024 * 1024);
    fake.handlers.uploadHeader = () => {
      throw new Refusal(grpc.status.PERMISSION_DENIED, 'release descriptor for web@9 is signed by key abcd, which is not trusted', 'FLOTILLA_ERR_SIGNATURE');
    };
    const r = await cli(['artifact', 'push', path, '--app', 'web', '--version', '9', '--key', key]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: release descriptor for web@9 is signed by key abcd, which is not trusted\n');
    expect(r.out).toBe('');
  });

  it('reports a size/SHA mismatch found by the controller (DATA_LOSS) as exit 1', async () => {
    const { path } = artifactFile('x.tar.gz', 1000);
    fake.handlers.upload = () => {
      throw new Refusal(grpc.status.DATA_LOSS, 'artifact web@1 has SHA-256 aaa, its descriptor says bbb', 'FLOTILLA_ERR_INTEGRITY');
    };
    const r = await cli(['artifact', 'push', path, '--app', 'web', '--version', '1', '--key', key]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: artifact web@1 has SHA-256 aaa, its descriptor says bbb\n');
  });
});

describe('read commands', () => {
  it('artifact list: a table by default, the response object with --json', async () => {
    fake.handlers.listArtifacts = () => ({
      artifacts: [
        { app: 'web', version: '1.4.2', sha256: 'b'.repeat(64), size: String(2 * 1024 * 1024), key_id: '0123456789abcdef', uploaded_at_ms: String(NOW - 120_000) },
        { app: 'api', version: '0.9', sha256: 'a'.repeat(64), size: '2048', key_id: '0123456789abcdef', uploaded_at_ms: String(NOW - 7_200_000) },
      ],
    });
    const table = await cli(['artifact', 'list', '--app', 'web']);
    expect(table.code).toBe(0);
    expect(fake.received.at(-1)).toMatchObject({ method: 'ListArtifacts', request: { app: 'web' } });
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^APP\s+VERSION\s+SHA256\s+SIZE\s+KEY\s+UPLOADED$/);
    expect(lines[1]).toMatch(/^api\s+0\.9\s+aaaaaaaaaaaa\s+2\.0 KiB\s+0123456789abcdef\s+2h ago$/);
    expect(lines[2]).toMatch(/^web\s+1\.4\.2\s+bbbbbbbbbbbb\s+2\.0 MiB\s+0123456789abcdef\s+2m ago$/);

    const json = await cli(['artifact', 'list', '--json']);
    const parsed = JSON.parse(json.out);
    expect(parsed.artifacts).toHaveLength(2);
    expect(parsed.artifacts[0]).toMatchObject({ app: 'web', version: '1.4.2', sha256: 'b'.repeat(64), size: String(2 * 1024 * 1024) });
  });

  it('hosts: sends the selector; shows state, labels, apps, load and last seen; --json prints the response', async () => {
    fake.handlers.listHosts = () => ({
      hosts: [hostInfo('web-2', { state: 'down', last_seen_ms: String(NOW - 20_000), apps: [] }), hostInfo('web-1')],
    });
    const r = await cli(['hosts', '--selector', 'env=prod']);
    expect(r.code).toBe(0);
    expect(fake.received.at(-1)).toMatchObject({ method: 'ListHosts', request: { selector: 'env=prod' } });
    const lines = r.out.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^web-1\s+up\s+env=prod,zone=a\s+web@1\.4\.2\s+8%\s+2\.0\/8\.0 GiB\s+50 GiB\s+\d+s ago\s+-$/);
    expect(lines[2]).toMatch(/^web-2\s+down\s+env=prod,zone=a\s+-\s+.*\s+2\ds ago\s+-$/);

    const json = await cli(['hosts', '--json']);
    const parsed = JSON.parse(json.out);
    expect(parsed.hosts.map((h: { host_id: string }) => h.host_id)).toEqual(['web-2', 'web-1']);
    expect(parsed.hosts[1]).toMatchObject({ host_id: 'web-1', state: 'up', labels: { env: 'prod', zone: 'a' }, last_seen_ms: String(NOW - 3_000) });
  });

  it('status: one row per host and app with versions, process, health, restarts and install phase', async () => {
    fake.handlers.getStatus = () => ({
      hosts: [
        hostInfo('web-1'),
        hostInfo('web-2', {
          apps: [appStatus({ desired_version: '1.4.3', active_version: '1.4.2', install_phase: 'failed', install_version: '1.4.3', restarts: 2, error: 'SHA-256 mismatch' })],
        }),
      ],
      apps: [{ name: 'web', stable_version: '1.4.2', stable_since_ms: String(NOW - 3_600_000), versions: ['1.4.1', '1.4.2', '1.4.3'] }],
    });
    const r = await cli(['status', 'web']);
    expect(r.code).toBe(0);
    expect(fake.received.at(-1)).toMatchObject({ method: 'GetStatus', request: { app: 'web' } });
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^HOST\s+APP\s+DESIRED\s+ACTIVE\s+PROCESS\s+HEALTH\s+RESTARTS\s+INSTALL\s+ERROR$/);
    expect(lines[1]).toMatch(/^web-1\s+web\s+1\.4\.2\s+1\.4\.2\s+running\s+healthy\s+0\s+done$/);
    expect(lines[2]).toMatch(/^web-2\s+web\s+1\.4\.3\s+1\.4\.2\s+running\s+healthy\s+2\s+failed 1\.4\.3\s+SHA-256 mismatch$/);
    expect(r.out).toContain('\nweb: stable 1.4.2 (since 1h ago); versions 1.4.1, 1.4.2, 1.4.3\n');

    const json = JSON.parse((await cli(['status', '--json'])).out);
    expect(json.apps[0]).toMatchObject({ name: 'web', stable_version: '1.4.2' });
    expect(json.hosts[1].apps[0]).toMatchObject({ install_phase: 'failed', error: 'SHA-256 mismatch', restarts: 2 });
  });
});

describe('deploy', () => {
  const assignThree = () => ({ assigned: ['h1', 'h2', 'h3'].map((host_id) => ({ host_id, seq: '5' })), rollout_id: 'web-7' });
  /** The deploy's rollout of web@1.4.2 over h1..h3, each host given as [state, report or null, down]. */
  const rollout = (hosts: [string, Partial<ReturnType<typeof testReport>> | null, boolean?][], over: Partial<Rollout__Output> = {}) =>
    testRollout({
      id: 'web-7',
      version: '1.4.2',
      hosts: hosts.map(([state, report, down], i) =>
        testRolloutHost(`h${i + 1}`, {
          state,
          down: down === true,
          last_report: report ? testReport({ active_version: '1.4.2', ...report }) : null,
          failure_reason: state === 'failed' ? `install of web@1.4.2 failed: ${report?.error ?? ''}` : '',
        }),
      ),
      ...over,
    });

  it('assigns, then follows the rollout while the hosts converge, and exits 0', async () => {
    fake.handlers.deploy = assignThree;
    const polls = [
      rollout([['assigned', { active_version: '1.4.1', install_phase: 'downloading' }], ['assigned', { active_version: '1.4.1', install_phase: 'idle' }], ['assigned', null]]),
      rollout([['assigned', { health: 'unknown' }], ['assigned', { active_version: '1.4.1', install_phase: 'unpacking' }], ['assigned', { active_version: '1.4.1', install_phase: 'downloading' }]]),
      rollout([['passed', {}], ['assigned', { health: 'unknown' }], ['assigned', { process_state: 'starting', health: 'unknown' }]]),
      rollout([['passed', {}], ['passed', {}], ['passed', {}]], { status: 'succeeded' }),
    ];
    fake.handlers.getRollout = (_req, n) => ({ rollout: polls[Math.min(n, polls.length - 1)]! });
    const r = await cli(['deploy', 'web@1.4.2', '--selector', 'env=prod']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(fake.received.find((x) => x.method === 'Deploy')?.request).toMatchObject({ app: 'web', version: '1.4.2', selector: 'env=prod', healthy_deadline: '5m' });
    expect(fake.received.filter((x) => x.method === 'GetRollout').map((x) => x.request)).toEqual(Array(4).fill({ id: 'web-7', app: '' }));
    expect(r.out).toBe(
      'assigned web@1.4.2 to 3 hosts: h1, h2, h3\n' +
        '0/3 healthy, 1 installing, 2 pending (0ms)\n' +
        '0/3 healthy, 2 installing, 1 starting (500ms)\n' +
        '1/3 healthy, 2 starting (1.00s)\n' +
        '3/3 healthy (1.50s)\n' +
        'web@1.4.2 is running and healthy on 3/3 hosts (1.50s)\n',
    );
  });

  it('--json prints a final summary with every host', async () => {
    fake.handlers.deploy = assignThree;
    fake.handlers.getRollout = () => ({ rollout: rollout([['passed', {}], ['passed', {}], ['passed', {}]], { status: 'succeeded' }) });
    const r = await cli(['deploy', 'web@1.4.2', '--json']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary).toMatchObject({ app: 'web', version: '1.4.2', rollout_id: 'web-7', result: 'converged', assigned: [{ host_id: 'h1', seq: '5' }, { host_id: 'h2', seq: '5' }, { host_id: 'h3', seq: '5' }] });
    expect(summary.hosts.map((h: { progress: string }) => h.progress)).toEqual(['healthy', 'healthy', 'healthy']);
    expect(r.err).toContain('assigned web@1.4.2 to 3 hosts');
  });

  it('reports which host failed and why as soon as the rollout fails, and exits 1', async () => {
    fake.handlers.deploy = assignThree;
    fake.handlers.getRollout = (_req, n) => ({
      rollout:
        n === 0
          ? rollout([['passed', {}], ['assigned', { active_version: '1.4.1', install_phase: 'verifying' }], ['assigned', { health: 'unknown' }]])
          : rollout([['passed', {}], ['failed', { active_version: '1.4.1', install_phase: 'failed', error: 'signature by untrusted key 99aa' }], ['assigned', { health: 'unknown' }]], { status: 'failed' }),
    });
    const r = await cli(['deploy', 'web@1.4.2']);
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: web@1.4.2 failed on host h2: install of web@1.4.2 failed: signature by untrusted key 99aa\n');
    expect(r.out).toContain('1/3 healthy, 1 starting, 1 failed');
  });

  it('times out naming the hosts not there yet and their state, and exits 1', async () => {
    fake.handlers.deploy = assignThree;
    fake.handlers.getRollout = () => ({
      rollout: rollout([
        ['passed', {}],
        ['assigned', { process_state: 'crash-loop', health: 'unknown', restarts: 6, error: 'exited with code 1' }],
        ['assigned', { active_version: '1.4.1', install_phase: 'idle' }, true],
      ]),
    });
    const r = await cli(['deploy', 'web@1.4.2', '--wait-timeout', '2s']);
    expect(r.code).toBe(1);
    const lines = r.err.trimEnd().split('\n');
    expect(lines[0]).toBe('error: timed out after 2.00s waiting for web@1.4.2: 1/3 hosts healthy; not there yet:');
    expect(lines[1]).toMatch(/^HOST\s+PROGRESS\s+HOST STATE\s+ACTIVE\s+INSTALL\s+PROCESS\s+HEALTH\s+ERROR$/);
    expect(lines[2]).toMatch(/^h2\s+crashing\s+up\s+1\.4\.2\s+done\s+crash-loop\s+unknown\s+exited with code 1$/);
    expect(lines[3]).toMatch(/^h3\s+down\s+down\s+1\.4\.1\s+idle\s+running\s+healthy$/);
    expect(lines[4]).toBe('rollout web-7 goes on until its healthy deadline (flotilla rollout status web-7)');
    expect(lines).toHaveLength(5);
  });

  it('--no-wait returns once assigned', async () => {
    fake.handlers.deploy = assignThree;
    const r = await cli(['deploy', 'web@1.4.2', '--no-wait']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('assigned web@1.4.2 to 3 hosts: h1, h2, h3\n');
    expect(fake.rolloutCalls).toBe(0);
  });
});

describe('rollout status --watch over gRPC', () => {
  it('streams the rollout until it ends and exits with its outcome', async () => {
    const running = testRollout({ id: 'web-9', hosts: [testRolloutHost('h1', { last_report: testReport() })] });
    const reverted = testRollout({
      id: 'web-9',
      status: 'reverted',
      end_reason: 'alarm from alertmanager: HighErrorRate',
      hosts: [testRolloutHost('h1', { state: 'reverted' })],
    });
    fake.handlers.watchRollout = () => [running, reverted];
    const r = await cli(['--token', 't0k', 'rollout', 'status', '--app', 'web', '--watch']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('web-9 web@2.0 running, canary (step 1 of 1): 0/1 passed, 1 in progress');
    expect(r.err).toBe('error: rollout web-9 reverted: alarm from alertmanager: HighErrorRate\n');
    expect(fake.received.find((x) => x.method === 'WatchRollout')).toMatchObject({ request: { id: '', app: 'web' }, authorization: 'Bearer t0k' });
  });
});

describe('errors from the controller and the network', () => {
  it('a controller that is not there: exit 3, "cannot reach the controller at ..."', async () => {
    const port = await closedPort();
    const c = captureContext({ connect: createControllerClient });
    const code = await runCli(['--controller', `127.0.0.1:${port}`, 'hosts'], c.ctx);
    expect(code).toBe(3);
    expect(c.err()).toMatch(new RegExp(`^error: cannot reach the controller at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('a push to a controller that is not there: exit 3', async () => {
    const port = await closedPort();
    const { path } = artifactFile('nowhere.tar.gz', 2000);
    const c = captureContext({ connect: createControllerClient });
    const code = await runCli(['--controller', `127.0.0.1:${port}`, 'artifact', 'push', path, '--app', 'web', '--version', '1', '--key', key], c.ctx);
    expect(code).toBe(3);
    expect(c.err()).toMatch(/^error: cannot reach the controller at 127\.0\.0\.1:\d+: /);
  });

  it.each([
    ['NOT_FOUND', grpc.status.NOT_FOUND, 'app web has no version 9.9 (push it first)', 'FLOTILLA_ERR_NOT_FOUND'],
    ['INVALID_ARGUMENT', grpc.status.INVALID_ARGUMENT, 'selector "env=prod": no such thing', 'FLOTILLA_ERR_VALIDATION'],
    ['FAILED_PRECONDITION', grpc.status.FAILED_PRECONDITION, 'a rollout of web is running; abort it first', 'FLOTILLA_ERR_CONFLICT'],
    ['UNAVAILABLE (sent by the controller)', grpc.status.UNAVAILABLE, 'NATS is not connected; try again shortly', 'FLOTILLA_ERR_UNAVAILABLE'],
    ['INTERNAL', grpc.status.INTERNAL, 'KV write failed after 5 attempts', undefined],
  ])('%s from the controller: exit 1 with its message', async (_name, code, details, flotillaCode) => {
    fake.handlers.deploy = () => {
      throw new Refusal(code, details, flotillaCode);
    };
    const r = await cli(['deploy', 'web@9.9']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: ${details}\n`);
  });

  it('UNAUTHENTICATED: exit 1 with the message and what to do about it', async () => {
    fake.handlers.listHosts = () => {
      throw new Refusal(grpc.status.UNAUTHENTICATED, 'missing or invalid API token', 'FLOTILLA_ERR_UNAUTHENTICATED');
    };
    const without = await cli(['hosts']);
    expect(without.code).toBe(1);
    expect(without.err).toBe('error: missing or invalid API token (pass --token or set FLOTILLA_API_TOKEN, or --tls-cert and --tls-key)\n');
    const wrong = await cli(['hosts'], { env: { FLOTILLA_API_TOKEN: 'nope' } });
    expect(wrong.err).toBe('error: missing or invalid API token (the token was refused)\n');
    expect(fake.received.at(-1)?.authorization).toBe('Bearer nope');
  });

  it('sends the token from the environment on every call, and none when there is none', async () => {
    await cli(['status'], { env: { FLOTILLA_API_TOKEN: 'from-env' } });
    await cli(['artifact', 'list']);
    expect(fake.received.map((r) => [r.method, r.authorization])).toEqual([
      ['GetStatus', 'Bearer from-env'],
      ['ListArtifacts', undefined],
    ]);
  });

  it('a controller that accepts the call but never answers: exit 1 when --timeout passes', async () => {
    fake.handlers.hang = true;
    const r = await cli(['hosts', '--timeout', '300ms']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: the controller at ${fake.address} did not answer ListHosts within 300ms (raise --timeout?)\n`);
  });
});

describe('the built program', () => {
  function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, ...env, NO_COLOR: '1' }, timeout: deadlineMs(60_000) }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, out: stdout, err: stderr });
      });
    });
  }

  beforeAll(() => {
    if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: build first (npx tsc -b controller)`);
  });

  it('lists hosts as JSON from a real process, reading the address and token from the environment', async () => {
    fake.handlers.listHosts = () => ({ hosts: [hostInfo('web-1')] });
    const r = await run(['hosts', '--json'], { FLOTILLA_CONTROLLER: fake.address, FLOTILLA_API_TOKEN: 'proc-token' });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).hosts[0].host_id).toBe('web-1');
    expect(fake.received.at(-1)?.authorization).toBe('Bearer proc-token');
  });

  it('deploys and waits in a real process (real clock)', async () => {
    fake.handlers.deploy = () => ({ assigned: [{ host_id: 'h1', seq: '2' }], rollout_id: 'web-1' });
    fake.handlers.getRollout = (_req, n) => ({
      rollout: testRollout({
        version: '1.4.2',
        status: n < 2 ? 'running' : 'succeeded',
        hosts: [
          testRolloutHost('h1', {
            state: n < 2 ? 'assigned' : 'passed',
            last_report: testReport({ active_version: n < 2 ? '1.4.1' : '1.4.2', install_phase: n < 2 ? 'downloading' : 'done' }),
          }),
        ],
      }),
    });
    const r = await run(['--controller', fake.address, 'deploy', 'web@1.4.2']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^assigned web@1\.4\.2 to 1 host: h1\n0\/1 healthy, 1 installing \(.*\)\n1\/1 healthy \(.*\)\nweb@1\.4\.2 is running and healthy on 1\/1 hosts/);
  });

  it('exits 3 when nothing listens, and 2 on a usage error', async () => {
    const port = await closedPort();
    const unreachable = await run(['--controller', `127.0.0.1:${port}`, 'status']);
    expect(unreachable.code).toBe(3);
    expect(unreachable.err).toMatch(new RegExp(`^error: cannot reach the controller at 127\\.0\\.0\\.1:${port}: `));
    const usage = await run(['deploy']);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/missing required argument 'app@version'/);
  });
});
