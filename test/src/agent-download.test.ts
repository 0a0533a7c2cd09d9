import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadFlotillaProto, type ArtifactsClient, type DownloadChunk, type DownloadRequest__Output } from '@flotilla/proto';
import {
  createLogger,
  IntegrityError,
  NotFoundError,
  UnavailableError,
  type FlotillaError,
} from '@flotilla/shared';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createArtifactsClient, downloadArtifact, type DownloadOptions } from '@flotilla/agent';

const logger = createLogger({ name: 'download-test', level: 'silent' });
const CHUNK = 64 * 1024;
const FAST_RETRY = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

type ServerCall = grpc.ServerWritableStream<DownloadRequest__Output, DownloadChunk>;

/**
 * What the test server does with one Download call. `serve` streams the artifact from the asked
 * offset, honouring back-pressure; behaviours may serve part of it, tamper with it, or fail.
 */
type Behaviour = (call: ServerCall, artifact: Buffer, n: number) => Promise<void>;

interface ArtifactServer {
  address: string;
  port: number;
  /** Offsets asked for, one per call, and the authorization header each call carried. */
  calls: Array<{ offset: number; authorization: string | undefined }>;
  behaviour: Behaviour;
  stop(): Promise<void>;
}

const artifact = randomBytes(3 * 1024 * 1024 + 17);
const sha256 = createHash('sha256').update(artifact).digest('hex');

/** Writes `bytes` from `from` to `to` in chunks, waiting for 'drain' as a real controller does. */
async function serve(call: ServerCall, bytes: Buffer, from: number, to = bytes.length): Promise<void> {
  for (let pos = from; pos < to && !call.cancelled; pos += CHUNK) {
    const data = bytes.subarray(pos, Math.min(pos + CHUNK, to));
    if (!call.write({ offset: String(pos), data })) {
      await new Promise<void>((resolve) => {
        const done = () => {
          call.off('drain', done);
          call.off('cancelled', done);
          resolve();
        };
        call.on('drain', done);
        call.on('cancelled', done);
      });
    }
  }
}

/** Ends the call with an error status (emitting 'error' is how grpc-js servers send one). */
function fail(call: ServerCall, code: grpc.status, details: string): void {
  call.emit('error', { code, details });
}

const normal: Behaviour = async (call, bytes) => {
  await serve(call, bytes, Number(call.request.offset));
  call.end();
};

async function startServer(port = 0): Promise<ArtifactServer> {
  const server = new grpc.Server();
  const state: ArtifactServer = {
    address: '',
    port: 0,
    calls: [],
    behaviour: normal,
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // A test that left a stream hanging must not keep the shutdown waiting.
        setTimeout(() => server.forceShutdown(), 200).unref();
      }),
  };
  server.addService(loadFlotillaProto().Artifacts.service, {
    Download: (call: ServerCall) => {
      const auth = call.metadata.get('authorization')[0];
      state.calls.push({ offset: Number(call.request.offset), authorization: typeof auth === 'string' ? auth : undefined });
      if (call.request.sha256 !== sha256) {
        fail(call, grpc.status.NOT_FOUND, `no artifact ${call.request.sha256}`);
        return;
      }
      void state.behaviour(call, artifact, state.calls.length);
    },
    Upload: (_call: unknown, callback: grpc.sendUnaryData<never>) => callback({ code: grpc.status.UNIMPLEMENTED }),
  });
  state.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  state.address = `127.0.0.1:${state.port}`;
  return state;
}

let server: ArtifactServer;
let client: ArtifactsClient;
let cacheDir: string;

beforeAll(async () => {
  server = await startServer();
  client = createArtifactsClient(server.address, {
    channelOptions: { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 200 },
  });
});

afterAll(async () => {
  client.close();
  await server.stop();
});

beforeEach(async () => {
  cacheDir = join(await mkdtemp(join(tmpdir(), 'flotilla-download-')), 'cache');
  server.calls.length = 0;
  server.behaviour = normal;
});

afterEach(async () => {
  await rm(join(cacheDir, '..'), { recursive: true, force: true });
});

function download(extra: Partial<DownloadOptions> = {}): Promise<string> {
  return downloadArtifact({ client, sha256, size: artifact.length, cacheDir, logger, retry: FAST_RETRY, ...extra });
}

async function failure(p: Promise<unknown>): Promise<FlotillaError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error('the download succeeded');
  return err as FlotillaError;
}

async function cacheFiles(): Promise<string[]> {
  return (await readdir(cacheDir).catch(() => [] as string[])).sort();
}

describe('downloadArtifact against a real gRPC server', () => {
  it('downloads, verifies and caches an artifact, sending the token', async () => {
    const progress: number[] = [];
    const path = await download({ token: 's3cret', onProgress: (bytes, total) => {
      expect(total).toBe(artifact.length);
      progress.push(bytes);
    } });
    expect(path).toBe(join(cacheDir, `${sha256}.tar.gz`));
    expect((await readFile(path)).equals(artifact)).toBe(true);
    expect(await cacheFiles()).toEqual([`${sha256}.tar.gz`]);
    expect(server.calls).toEqual([{ offset: 0, authorization: 'Bearer s3cret' }]);
    expect(progress.at(-1)).toBe(artifact.length);
  });

  it('resumes from where the stream dropped midway', async () => {
    const half = Math.floor(artifact.length / 2);
    server.behaviour = async (call, bytes, n) => {
      if (n === 1) {
        await serve(call, bytes, 0, half);
        fail(call, grpc.status.UNAVAILABLE, 'connection reset');
        return;
      }
      await normal(call, bytes, n);
    };
    const path = await download();
    expect((await readFile(path)).equals(artifact)).toBe(true);
    // It resumes from what it received and handled, however much of the half that was.
    const offsets = server.calls.map((c) => c.offset);
    expect(offsets).toHaveLength(2);
    expect(offsets[1]).toBeGreaterThan(0);
    expect(offsets[1]).toBeLessThanOrEqual(half);
  });

  it('resumes after the controller goes away and comes back on its address', async () => {
    const other = await startServer();
    const otherClient = createArtifactsClient(other.address, {
      channelOptions: { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 200 },
    });
    let restarted: ArtifactServer | undefined;
    try {
      const cut = 1024 * 1024;
      let restarting: Promise<void> | undefined;
      other.behaviour = async (call, bytes) => {
        await serve(call, bytes, 0, cut);
        // The whole server dies with the stream open, as a controller restart would do it.
        restarting ??= (async () => {
          await other.stop();
          restarted = await startServer(other.port);
        })();
      };
      const path = await downloadArtifact({
        client: otherClient,
        sha256,
        size: artifact.length,
        cacheDir,
        logger,
        retry: { attempts: 20, baseDelayMs: 20, maxDelayMs: 100 },
      });
      await restarting;
      expect((await readFile(path)).equals(artifact)).toBe(true);
      expect(other.calls.map((c) => c.offset)).toEqual([0]);
      expect(restarted?.calls.at(-1)?.offset).toBe(cut);
    } finally {
      otherClient.close();
      await restarted?.stop();
    }
  });

  it('continues a partial file an earlier run left on disk', async () => {
    const have = 1_000_003;
    await mkdir(cacheDir, { recursive: true });
    await writeFile(join(cacheDir, `${sha256}.partial`), artifact.subarray(0, have));
    const path = await download();
    expect((await readFile(path)).equals(artifact)).toBe(true);
    expect(server.calls.map((c) => c.offset)).toEqual([have]);
  });

  it('refuses one byte more than the signed size and keeps nothing', async () => {
    server.behaviour = async (call, bytes) => {
      await serve(call, Buffer.concat([bytes, Buffer.from([0x42])]), 0);
      call.end();
    };
    const err = await failure(download());
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toMatch(/more than the signed size/);
    expect(await cacheFiles()).toEqual([]);
  });

  it('refuses tampered bytes, naming both digests, and keeps nothing', async () => {
    const tampered = Buffer.from(artifact);
    tampered[12345] = (tampered[12345] ?? 0) ^ 0xff;
    const actual = createHash('sha256').update(tampered).digest('hex');
    server.behaviour = async (call) => {
      await serve(call, tampered, Number(call.request.offset));
      call.end();
    };
    const err = await failure(download());
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toContain(sha256);
    expect(err.message).toContain(actual);
    expect(await cacheFiles()).toEqual([]);
  });

  it('downloads again in full when a resumed prefix on disk was damaged', async () => {
    await mkdir(cacheDir, { recursive: true });
    const damaged = Buffer.from(artifact.subarray(0, 500_000));
    damaged[10] = (damaged[10] ?? 0) ^ 0xff;
    await writeFile(join(cacheDir, `${sha256}.partial`), damaged);
    const path = await download();
    expect((await readFile(path)).equals(artifact)).toBe(true);
    expect(server.calls.map((c) => c.offset)).toEqual([500_000, 0]);
  });

  it('gives up on a stream that keeps ending early, with a clear error', async () => {
    server.behaviour = async (call, bytes) => {
      const from = Number(call.request.offset);
      await serve(call, bytes, from, Math.max(from, 100_000));
      call.end();
    };
    const err = await failure(download());
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toMatch(/ending the download of artifact .* early: 100000 of \d+ bytes/);
    expect(server.calls.length).toBe(1 + FAST_RETRY.attempts);
    expect(await cacheFiles()).toEqual([`${sha256}.partial`]);
  });

  /** Sends one byte, then one more every `everyMs`, until the client goes away. */
  const drip = (everyMs: number): Behaviour => async (call, bytes) => {
    let pos = Number(call.request.offset);
    while (!call.cancelled && pos < bytes.length) {
      call.write({ offset: String(pos), data: bytes.subarray(pos, pos + 1) });
      pos += 1;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, everyMs);
        call.once('cancelled', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  };

  it('abandons a server that drips one byte every 10 s, with a clear transient error', async () => {
    server.behaviour = drip(10_000);
    const err = await failure(download({ rateWindowMs: 1_000, minBytesPerSecond: 1024 }));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toMatch(/without progress\): the controller sent 1 bytes in 1000 ms, below the minimum of 1024 bytes\/s; the download is abandoned for now$/);
    // Each drip counted as no progress: given up after the retry policy's attempts, not after MAX_ATTEMPTS.
    expect(server.calls.length).toBe(FAST_RETRY.attempts);
    expect(await cacheFiles()).toEqual([`${sha256}.partial`]);
  });

  it('ends a download at its overall deadline, however the bytes trickle', async () => {
    server.behaviour = drip(100);
    const err = await failure(download({ deadlineMs: 1_500, rateWindowMs: 60_000, minBytesPerSecond: 1 }));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toMatch(/did not finish within 1500 ms \(\d+ of \d+ bytes\); it will be tried again$/);
  });

  it('stops at once when aborted, keeping the partial file for later', async () => {
    const ac = new AbortController();
    server.behaviour = async (call, bytes) => {
      await serve(call, bytes, 0, CHUNK * 2);
      // Then stall, as a stuck controller would.
    };
    const err = await failure(
      download({
        signal: ac.signal,
        onProgress: (bytes) => {
          if (bytes >= CHUNK) ac.abort(Object.assign(new Error('newer assignment'), { name: 'AbortError' }));
        },
      }),
    );
    expect(err.name).toBe('AbortError');
    expect(err.message).toBe('newer assignment');
    expect(await cacheFiles()).toEqual([`${sha256}.partial`]);
    expect(server.calls.length).toBe(1);
  });

  it('reuses a verified cache file and replaces one that no longer verifies', async () => {
    await download();
    expect(server.calls.length).toBe(1);
    await download();
    expect(server.calls.length).toBe(1);
    const path = join(cacheDir, `${sha256}.tar.gz`);
    const spoiled = Buffer.from(artifact);
    spoiled[0] = (spoiled[0] ?? 0) ^ 1;
    await writeFile(path, spoiled);
    await download();
    expect(server.calls.length).toBe(2);
    expect((await readFile(path)).equals(artifact)).toBe(true);
  });

  it('reports an unknown artifact as not found, without retrying', async () => {
    const other = createHash('sha256').update('nothing').digest('hex');
    const err = await failure(download({ sha256: other }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(server.calls.length).toBe(1);
  });

  it('gives up on an unreachable controller after the configured attempts', async () => {
    const gone = await startServer();
    await gone.stop();
    const lonely = createArtifactsClient(gone.address);
    try {
      const err = await failure(
        downloadArtifact({ client: lonely, sha256, size: artifact.length, cacheDir, logger, retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 } }),
      );
      expect(err).toBeInstanceOf(UnavailableError);
      expect(err.message).toMatch(/after 2 attempts/);
    } finally {
      lonely.close();
    }
  });
});
