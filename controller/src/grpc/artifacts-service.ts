import type { sendUnaryData, ServerReadableStream, ServerWritableStream, ServiceDefinition } from '@grpc/grpc-js';
import type {
  ArtifactsHandlers,
  DownloadChunk,
  DownloadRequest__Output,
  UploadRequest__Output,
  UploadResponse,
} from '@flotilla/proto';
import { InternalError, ResourceExhaustedError, SignatureError, ValidationError, formatDuration, isCallerFault, type Logger } from '@flotilla/shared';
import type { ArtifactStore, OpenArtifact, UploadSession } from '../artifacts.js';
import type { ControllerMetrics, TransferResult } from '../metrics.js';
import { artifactInfo, readUint64, signedFromMessage } from './convert.js';
import type { DiskRoom } from './disk-room.js';
import { toServiceError } from './errors.js';
import { peerAddress, type StreamLimits } from './stream-limits.js';

export interface ArtifactsServiceDeps {
  artifacts: ArtifactStore;
  metrics: ControllerMetrics;
  logger: Logger;
  /** Bytes per download message. */
  downloadChunkBytes: number;
  /** Throws when this call's caller may not push artifacts of `app` (checked once the header names it). */
  authorizeUpload?: (call: object, app: string) => void;
  /** Streams in flight, overall, per peer and uploads. */
  limits: StreamLimits;
  /** Room on the artifacts disk, held by each upload for its signed size. */
  diskRoom: DiskRoom;
  /** An upload that sends nothing for this long is dropped. */
  uploadIdleTimeoutMs: number;
  /** An upload not finished this long after it began is dropped, however it trickles. */
  uploadDeadlineMs: number;
  /** A download whose client takes no chunk for this long is ended (it resumes from its offset). */
  downloadStallTimeoutMs: number;
}

/** 'refused' when the caller caused the failure (and can fix it), 'failed' when we did. */
function resultOf(err: unknown): TransferResult {
  return isCallerFault(err) ? 'refused' : 'failed';
}

/** The Artifacts service: signed uploads in, resumable downloads out. */
export function artifactsService(deps: ArtifactsServiceDeps): ArtifactsHandlers {
  const { artifacts, metrics } = deps;
  const logger = deps.logger.child({ component: 'artifacts-service' });

  /**
   * Client streaming: the header (signed descriptor) first, then chunks. Each message is
   * handled before the next is read (the stream is paused meanwhile), so a slow disk slows the
   * sender down instead of filling memory, and a refusal stops reading at once.
   */
  function Upload(
    call: ServerReadableStream<UploadRequest__Output, UploadResponse>,
    callback: sendUnaryData<UploadResponse>,
  ): void {
    let session: UploadSession | undefined;
    let sawHeader = false;
    let settled = false;
    let work: Promise<void> = Promise.resolve();
    let releaseStream: () => void;
    try {
      releaseStream = deps.limits.acquire(peerAddress(call.getPeer()), 'upload');
    } catch (err) {
      metrics.uploads.inc({ result: 'refused' });
      logger.warn({ peer: call.getPeer(), err }, 'upload refused');
      callback(toServiceError(err));
      return;
    }
    let releaseRoom: (() => void) | undefined;
    // Idle only counts while we wait for the client: the call is paused while we write.
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        settle(new ResourceExhaustedError(`upload sent nothing for ${formatDuration(deps.uploadIdleTimeoutMs)} (limits.uploadIdleTimeout); it was dropped`));
      }, deps.uploadIdleTimeoutMs);
      idle.unref();
    };
    const deadline = setTimeout(() => {
      settle(new ResourceExhaustedError(`upload did not finish within ${formatDuration(deps.uploadDeadlineMs)} (limits.uploadDeadline); it was dropped`));
    }, deps.uploadDeadlineMs);
    deadline.unref();
    armIdle();
    /** Gives back the stream's place, the disk room and the timers: every way out calls it. */
    const letGo = () => {
      clearTimeout(idle);
      clearTimeout(deadline);
      releaseStream();
      releaseRoom?.();
    };

    const settle = (err: unknown, value?: UploadResponse) => {
      if (settled) return;
      settled = true;
      letGo();
      const bytes = session?.bytesReceived ?? 0;
      const what = session ? { app: session.descriptor.app, version: session.descriptor.version } : {};
      if (err) {
        const result = resultOf(err);
        metrics.uploads.inc({ result });
        metrics.uploadBytes.inc({ result }, bytes);
        logger.warn({ ...what, bytes, err }, result === 'refused' ? 'upload refused' : 'upload failed');
        void session?.abort();
        callback(toServiceError(err));
      } else {
        metrics.uploads.inc({ result: 'ok' });
        metrics.uploadBytes.inc({ result: 'ok' }, bytes);
        callback(null, value);
      }
    };

    const handle = async (msg: UploadRequest__Output) => {
      if (msg.payload === 'header') {
        if (sawHeader) throw new ValidationError('upload sent its descriptor header twice; send it once, first');
        sawHeader = true;
        session = await artifacts.beginUpload(signedFromMessage(msg.header));
        deps.authorizeUpload?.(call, session.descriptor.app);
        // Before a single byte: the signed size must fit on the disk beside uploads in progress.
        const { app, version, size } = session.descriptor;
        releaseRoom = await deps.diskRoom.reserve(`${app}@${version}`, size);
        return;
      }
      if (msg.payload === 'chunk') {
        if (!session) {
          throw new SignatureError('upload is unsigned: it must start with the signed descriptor header before any bytes');
        }
        await session.write(msg.chunk ?? Buffer.alloc(0));
        return;
      }
      throw new ValidationError('upload message carries neither a header nor a chunk');
    };

    call.on('data', (msg: UploadRequest__Output) => {
      if (settled) return;
      call.pause();
      clearTimeout(idle);
      work = work
        .then(() => handle(msg))
        .then(
          () => {
            if (settled) return;
            armIdle();
            call.resume();
          },
          (err: unknown) => settle(err),
        );
    });

    call.on('end', () => {
      clearTimeout(idle);
      work = work.then(async () => {
        if (settled) return;
        try {
          if (!session) throw new SignatureError('upload is unsigned: no signed descriptor header arrived');
          const result = await session.finish();
          settle(null, { artifact: artifactInfo(result.record), already_present: result.alreadyPresent });
        } catch (err) {
          settle(err);
        }
      });
    });

    const dropped = () => {
      if (settled) return;
      settled = true;
      letGo();
      metrics.uploads.inc({ result: 'cancelled' });
      metrics.uploadBytes.inc({ result: 'cancelled' }, session?.bytesReceived ?? 0);
      logger.info({ bytes: session?.bytesReceived ?? 0 }, 'upload cancelled by the client');
      // Wait for the message being written, then remove the temporary file.
      work = work.then(() => session?.abort());
    };
    call.on('cancelled', dropped);
    call.on('error', dropped);
  }

  /**
   * Server streaming from `offset` to the end, one chunk at a time: a full send buffer waits for
   * 'drain', a cancelled call stops at once, and every other outcome ends with a status.
   *
   * Each chunk is read into a slab from a small per-call pool, behind room for the message's
   * field headers, and goes out as an OutgoingChunk that encodes in place (see
   * artifactsServiceDefinition). grpc-js copies each message into its own frame before it calls
   * the write back, so the slab is reused from then on: serving a GiB allocates the GiB of frames
   * grpc-js makes, where a fresh buffer per chunk and protobufjs' encoding made three.
   */
  async function Download(call: ServerWritableStream<DownloadRequest__Output, DownloadChunk>): Promise<void> {
    let opened: OpenArtifact | undefined;
    let sent = 0;
    const sha256 = call.request.sha256;
    let releaseStream: (() => void) | undefined;
    // A client that stops reading holds its slabs and a frame in HTTP/2's buffers: bounded, but
    // held. After the stall timeout the call ends and gives them back; the agent resumes later.
    let stalled = false;
    let stall: NodeJS.Timeout | undefined;
    const armStall = () => {
      clearTimeout(stall);
      stall = setTimeout(() => {
        stalled = true;
        logger.info({ sha256, sent }, 'download stalled: the client took nothing; ending it');
        call.emit(
          'error',
          toServiceError(new ResourceExhaustedError(`download took no data for ${formatDuration(deps.downloadStallTimeoutMs)} (limits.downloadStallTimeout) having sent up to offset ${offsetSent()}; resume from the last offset received`)),
        );
      }, deps.downloadStallTimeoutMs);
      stall.unref();
    };
    let offsetSent = () => 0;
    try {
      releaseStream = deps.limits.acquire(peerAddress(call.getPeer()), 'download');
      const offset = readUint64(call.request.offset, 'offset');
      opened = await artifacts.openForDownload(sha256, offset);
      const slabs = new SlabPool(CHUNK_HEADER_ROOM + deps.downloadChunkBytes, SLABS_PER_DOWNLOAD);
      let position = offset;
      offsetSent = () => offset + sent;
      armStall();
      while (position < opened.size && !call.cancelled && !stalled) {
        const slab = slabs.take() ?? (await slabs.released(call));
        if (!slab) break; // the call ended while it waited
        const want = Math.min(deps.downloadChunkBytes, opened.size - position);
        const { bytesRead } = await opened.handle.read(slab, CHUNK_HEADER_ROOM, want, position);
        if (bytesRead === 0) throw new InternalError(`artifact ${sha256} ended early on disk at byte ${position}`);
        const more = call.write(new OutgoingChunk(slab, position, bytesRead), () => {
          armStall();
          slabs.give(slab);
        });
        position += bytesRead;
        sent += bytesRead;
        if (!more) await settledOrCancelled(call, 'drain');
      }
      metrics.downloadBytes.inc(sent);
      if (stalled) {
        metrics.downloads.inc({ result: 'refused' });
        return;
      }
      if (call.cancelled || position < opened.size) {
        metrics.downloads.inc({ result: 'cancelled' });
        logger.debug({ sha256, offset, sent }, 'download cancelled by the client');
        return;
      }
      call.end();
      metrics.downloads.inc({ result: 'ok' });
      logger.debug({ sha256, offset, sent }, 'download served');
    } catch (err) {
      metrics.downloadBytes.inc(sent);
      metrics.downloads.inc({ result: call.cancelled ? 'cancelled' : resultOf(err) });
      if (!call.cancelled) {
        logger.info({ sha256, err }, 'download refused');
        call.emit('error', toServiceError(err));
      }
    } finally {
      clearTimeout(stall);
      releaseStream?.();
      await opened?.handle.close().catch(() => undefined);
    }
  }

  return { Upload, Download };
}

/**
 * The Artifacts service definition to register: the loaded one, with Download's messages encoded
 * by OutgoingChunk.encode when the handler sent one (any other DownloadChunk still goes through
 * protobufjs). The bytes on the wire are the same either way.
 */
export function artifactsServiceDefinition(base: ServiceDefinition): ServiceDefinition {
  const download = base.Download;
  if (!download) throw new InternalError('the Artifacts service definition has no Download method');
  const generic = download.responseSerialize as (m: DownloadChunk) => Buffer;
  return {
    ...base,
    Download: { ...download, responseSerialize: (m: DownloadChunk) => (m instanceof OutgoingChunk ? m.encode() : generic(m)) },
  };
}

/** Tag of DownloadChunk.offset (field 1, varint) and of DownloadChunk.data (field 2, length-delimited). */
const OFFSET_TAG = 0x08;
const DATA_TAG = 0x12;
/** Room for both tags, a 64-bit varint offset and a 32-bit varint length. */
export const CHUNK_HEADER_ROOM = 1 + 10 + 1 + 5;
/**
 * Chunks one download may hold: the one grpc-js is sending and one read ahead. With the frame
 * grpc-js copies for HTTP/2, a client that stops reading pins at most three chunks of memory
 * (768 KiB at the default 256 KiB chunk), which is what bounds 1,500 unread streams.
 */
const SLABS_PER_DOWNLOAD = 2;

/**
 * One DownloadChunk whose `length` bytes sit in `slab` at CHUNK_HEADER_ROOM. `encode` writes the
 * protobuf field headers into the room just before the bytes and returns a view of the whole
 * message: no copy.
 */
export class OutgoingChunk {
  constructor(
    private readonly slab: Buffer,
    /** Byte offset of the chunk within the artifact. */
    readonly offset: number,
    private readonly length: number,
  ) {
    if (slab.length < CHUNK_HEADER_ROOM + length) throw new InternalError('download slab too small for its chunk');
  }

  /** The chunk's bytes (a view into the slab, valid until the slab is reused). */
  get data(): Buffer {
    return this.slab.subarray(CHUNK_HEADER_ROOM, CHUNK_HEADER_ROOM + this.length);
  }

  encode(): Buffer {
    const start = CHUNK_HEADER_ROOM - (2 + varintLength(this.offset) + varintLength(this.length));
    let at = start;
    this.slab[at++] = OFFSET_TAG;
    at = writeVarint(this.slab, at, this.offset);
    this.slab[at++] = DATA_TAG;
    writeVarint(this.slab, at, this.length);
    return this.slab.subarray(start, CHUNK_HEADER_ROOM + this.length);
  }
}

function varintLength(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) n += 1;
  return n;
}

/** Base-128, least significant group first; exact for every safe integer. */
function writeVarint(buf: Buffer, at: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    buf[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[at++] = v;
  return at;
}

/** Up to `max` slabs of one size, made on demand and handed back for reuse. */
class SlabPool {
  private readonly free: Buffer[] = [];
  private made = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly size: number,
    private readonly max: number,
  ) {}

  take(): Buffer | undefined {
    const slab = this.free.pop();
    if (slab) return slab;
    if (this.made >= this.max) return undefined;
    this.made += 1;
    return Buffer.allocUnsafe(this.size);
  }

  give(slab: Buffer): void {
    this.free.push(slab);
    this.wake?.();
  }

  /** A slab once one comes back; undefined when the call ends first. */
  async released(call: ServerWritableStream<DownloadRequest__Output, DownloadChunk>): Promise<Buffer | undefined> {
    if (call.cancelled || call.destroyed) return undefined;
    await settledOrCancelled(call, undefined, (wake) => {
      this.wake = wake;
      return () => (this.wake = undefined);
    });
    return call.cancelled || call.destroyed ? undefined : this.take();
  }
}

/**
 * Resolves on `event` (or on the wake handed to `also`), or once the call is cancelled, closed or
 * failed; the listeners are removed either way.
 */
function settledOrCancelled(
  call: ServerWritableStream<DownloadRequest__Output, DownloadChunk>,
  event: 'drain' | undefined,
  also?: (wake: () => void) => () => void,
): Promise<void> {
  return new Promise((resolve) => {
    const events = ['cancelled', 'close', 'error', ...(event ? [event] : [])];
    let undo: (() => void) | undefined;
    const done = () => {
      for (const e of events) call.off(e, done);
      undo?.();
      resolve();
    };
    for (const e of events) call.on(e, done);
    undo = also?.(done);
  });
}
