import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import { loadFlotillaProto, type DownloadChunk, type DownloadChunk__Output, type DownloadRequest__Output } from '@flotilla/proto';
import { NotFoundError, createLogger } from '@flotilla/shared';
import type { ArtifactStore } from '../artifacts.js';
import type { ControllerMetrics } from '../metrics.js';
import { DiskRoom } from './disk-room.js';
import { StreamLimits } from './stream-limits.js';
import { artifactsService, artifactsServiceDefinition, CHUNK_HEADER_ROOM, OutgoingChunk } from './artifacts-service.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const loaded = loadFlotillaProto().Artifacts.service;
const protobufEncode = loaded.Download!.responseSerialize as (m: DownloadChunk) => Buffer;
const protobufDecode = loaded.Download!.responseDeserialize as (b: Buffer) => DownloadChunk__Output;
const SHA = 'a'.repeat(64);
/** Limits no test here reaches. */
const LIMITS = {
  limits: new StreamLimits({ maxStreams: 100, maxStreamsPerPeer: 100, maxUploads: 10 }),
  diskRoom: new DiskRoom(tmpdir(), async () => Number.MAX_SAFE_INTEGER),
  uploadIdleTimeoutMs: 30_000,
  uploadDeadlineMs: 60_000,
  downloadStallTimeoutMs: 60_000,
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-download-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function chunkIn(data: Buffer, offset: number): OutgoingChunk {
  const slab = Buffer.alloc(CHUNK_HEADER_ROOM + data.length + 7, 0xee);
  data.copy(slab, CHUNK_HEADER_ROOM);
  return new OutgoingChunk(slab, offset, data.length);
}

describe('OutgoingChunk', () => {
  const offsets = [0, 1, 127, 128, 16_383, 16_384, 2 ** 32, 2 ** 53 - 1];
  const lengths = [0, 1, 127, 128, 300, 256 * 1024];

  it('encodes to the same bytes as protobufjs, which decodes them back', () => {
    for (const offset of offsets) {
      for (const length of lengths) {
        const data = randomBytes(length);
        const encoded = chunkIn(data, offset).encode();
        expect(encoded.equals(protobufEncode({ offset: String(offset), data }))).toBe(true);
        const decoded = protobufDecode(encoded);
        expect(decoded.offset).toBe(String(offset));
        expect(decoded.data.equals(data)).toBe(true);
      }
    }
  });

  it('encodes in place: the message is a view of the slab', () => {
    const chunk = chunkIn(Buffer.from('release bytes'), 4096);
    const encoded = chunk.encode();
    expect(encoded.buffer).toBe(chunk.data.buffer);
    expect(encoded.subarray(encoded.length - 13).toString()).toBe('release bytes');
  });

  it('refuses a slab without room for its chunk', () => {
    expect(() => new OutgoingChunk(Buffer.alloc(CHUNK_HEADER_ROOM + 9), 0, 10)).toThrow(/too small/);
  });
});

describe('artifactsServiceDefinition', () => {
  const serialize = artifactsServiceDefinition(loaded).Download!.responseSerialize as (m: DownloadChunk) => Buffer;

  it('sends an OutgoingChunk and a plain DownloadChunk as the same bytes', () => {
    const data = randomBytes(1000);
    expect(serialize(chunkIn(data, 77_777)).equals(serialize({ offset: '77777', data }))).toBe(true);
  });

  it('leaves the other methods as loaded', () => {
    const definition = artifactsServiceDefinition(loaded);
    expect(definition.Upload).toBe(loaded.Upload);
    expect(definition.Download!.path).toBe(loaded.Download!.path);
  });
});

/**
 * A server-streaming call as grpc-js runs one: written messages queue, and each is encoded (copied
 * into its own frame) only when its turn comes, after which its write callback runs. `highWaterMark`
 * messages queued make write() return false until the queue is empty again ('drain').
 */
class FakeCall extends EventEmitter {
  cancelled = false;
  destroyed = false;
  ended = false;
  failure: unknown;
  readonly frames: Buffer[] = [];
  private readonly queue: { message: DownloadChunk; done: () => void }[] = [];
  private flowing = false;
  private wasFull = false;

  constructor(
    readonly request: DownloadRequest__Output,
    private readonly highWaterMark: number,
    private readonly onFrame: (call: FakeCall) => void = () => undefined,
  ) {
    super();
    this.on('error', (err) => (this.failure = err));
  }

  getPeer(): string {
    return 'ipv4:127.0.0.1:50000';
  }

  write(message: DownloadChunk, done: () => void): boolean {
    this.queue.push({ message, done });
    if (!this.flowing) this.flow();
    const full = this.queue.length >= this.highWaterMark;
    this.wasFull ||= full;
    return !full;
  }

  end(): void {
    this.ended = true;
  }

  cancel(): void {
    this.cancelled = true;
    this.emit('cancelled');
  }

  private flow(): void {
    this.flowing = true;
    setImmediate(() => {
      const next = this.queue.shift();
      if (!next || this.cancelled) {
        this.flowing = false;
        return;
      }
      const { message } = next;
      const bytes = message instanceof OutgoingChunk ? message.encode() : protobufEncode(message);
      this.frames.push(Buffer.from(bytes));
      this.onFrame(this);
      next.done();
      if (this.queue.length === 0 && this.wasFull) {
        this.wasFull = false;
        this.emit('drain');
      }
      this.flow();
    });
  }

  /** Resolves once every written message has been framed. */
  idle(): Promise<void> {
    if (!this.flowing) return Promise.resolve();
    return new Promise((resolve) => setImmediate(() => resolve(this.idle())));
  }

  asServerCall(): ServerWritableStream<DownloadRequest__Output, DownloadChunk> {
    return this as unknown as ServerWritableStream<DownloadRequest__Output, DownloadChunk>;
  }
}

function fakeMetrics() {
  const results: string[] = [];
  let bytes = 0;
  const metrics = {
    downloads: { inc: (labels: { result: string }) => results.push(labels.result) },
    downloadBytes: { inc: (n: number) => (bytes += n) },
  } as unknown as ControllerMetrics;
  return { metrics, results, bytes: () => bytes };
}

async function artifactFile(size: number): Promise<{ path: string; bytes: Buffer }> {
  const bytes = randomBytes(size);
  const path = join(dir, `artifact-${size}-${Math.random().toString(16).slice(2)}`);
  await writeFile(path, bytes);
  return { path, bytes };
}

function storeOf(path: string, size: number): ArtifactStore {
  return {
    openForDownload: async (sha256: string) => {
      if (sha256 !== SHA) throw new NotFoundError(`no artifact with SHA-256 ${sha256} is stored`);
      return { handle: await open(path, 'r'), size };
    },
  } as unknown as ArtifactStore;
}

function reassemble(frames: Buffer[]): { bytes: Buffer; offsets: string[] } {
  const chunks = frames.map(protobufDecode);
  return { bytes: Buffer.concat(chunks.map((c) => c.data)), offsets: chunks.map((c) => c.offset) };
}

describe('Download', () => {
  it('streams the artifact from the offset in chunks, reusing its buffers without mixing their bytes', async () => {
    const size = 5 * 64 * 1024 + 123;
    const { path, bytes } = await artifactFile(size);
    const m = fakeMetrics();
    const { Download } = artifactsService({ artifacts: storeOf(path, size), metrics: m.metrics, logger, ...LIMITS, downloadChunkBytes: 64 * 1024 });
    const call = new FakeCall({ sha256: SHA, offset: '1000' }, 2);
    await Download!(call.asServerCall());
    await call.idle();

    const got = reassemble(call.frames);
    expect(call.ended).toBe(true);
    expect(got.bytes.equals(bytes.subarray(1000))).toBe(true);
    expect(got.offsets).toEqual(['1000', '66536', '132072', '197608', '263144']);
    expect(m.results).toEqual(['ok']);
    expect(m.bytes()).toBe(size - 1000);
  });

  it('stops when the client cancels, and ends no stream', async () => {
    const size = 40 * 16 * 1024;
    const { path } = await artifactFile(size);
    const m = fakeMetrics();
    const { Download } = artifactsService({ artifacts: storeOf(path, size), metrics: m.metrics, logger, ...LIMITS, downloadChunkBytes: 16 * 1024 });
    const call = new FakeCall({ sha256: SHA, offset: '0' }, 16, (c) => {
      if (c.frames.length === 3) c.cancel();
    });
    await Download!(call.asServerCall());

    expect(call.ended).toBe(false);
    expect(call.frames.length).toBeLessThan(10);
    expect(m.results).toEqual(['cancelled']);
  });

  it('ends a download whose client stops taking chunks, holding no more than two of them meanwhile', async () => {
    const size = 40 * 16 * 1024;
    const { path } = await artifactFile(size);
    const m = fakeMetrics();
    const { Download } = artifactsService({
      artifacts: storeOf(path, size),
      metrics: m.metrics,
      logger,
      ...LIMITS,
      downloadStallTimeoutMs: 200,
      downloadChunkBytes: 16 * 1024,
    });
    // A client that takes nothing: written messages stay queued and their callbacks never run.
    const call = new FakeCall({ sha256: SHA, offset: '0' }, 16);
    const queued: unknown[] = [];
    call.write = (message: DownloadChunk) => {
      queued.push(message);
      return true;
    };
    await Download!(call.asServerCall());

    expect(queued).toHaveLength(2);
    expect(call.failure).toMatchObject({ code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/^download took no data for 200ms \(limits\.downloadStallTimeout\) having sent up to offset 32768; resume from the last offset received$/) });
    expect(m.results).toEqual(['refused']);
  });

  it('answers an unknown artifact with NOT_FOUND', async () => {
    const { path } = await artifactFile(10);
    const m = fakeMetrics();
    const { Download } = artifactsService({ artifacts: storeOf(path, 10), metrics: m.metrics, logger, ...LIMITS, downloadChunkBytes: 16 * 1024 });
    const call = new FakeCall({ sha256: 'b'.repeat(64), offset: '0' }, 16);
    await Download!(call.asServerCall());

    expect(call.frames).toEqual([]);
    expect(call.failure).toMatchObject({ code: 5 });
    expect(m.results).toEqual(['refused']);
  });
});
