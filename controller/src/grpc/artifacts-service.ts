import type { sendUnaryData, ServerReadableStream, ServerWritableStream } from '@grpc/grpc-js';
import type {
  ArtifactsHandlers,
  DownloadChunk,
  DownloadRequest__Output,
  UploadRequest__Output,
  UploadResponse,
} from '@flotilla/proto';
import { FlotillaError, InternalError, SignatureError, ValidationError, errorMessage, type Logger } from '@flotilla/shared';
import type { ArtifactStore, OpenArtifact, UploadSession } from '../artifacts.js';
import type { ControllerMetrics, TransferResult } from '../metrics.js';
import { artifactInfo, readUint64, signedFromMessage } from './convert.js';
import { toServiceError } from './errors.js';

export interface ArtifactsServiceDeps {
  artifacts: ArtifactStore;
  metrics: ControllerMetrics;
  logger: Logger;
  /** Bytes per download message. */
  downloadChunkBytes: number;
}

/** Failures the caller caused (and can fix) rather than the controller. */
const CALLER_FAULTS = new Set([
  'FLOTILLA_ERR_VALIDATION',
  'FLOTILLA_ERR_SIGNATURE',
  'FLOTILLA_ERR_INTEGRITY',
  'FLOTILLA_ERR_MANIFEST',
  'FLOTILLA_ERR_UNSAFE_ARCHIVE',
  'FLOTILLA_ERR_CONFLICT',
  'FLOTILLA_ERR_NOT_FOUND',
  'FLOTILLA_ERR_OUT_OF_RANGE',
  'FLOTILLA_ERR_UNAUTHENTICATED',
]);

function resultOf(err: unknown): TransferResult {
  return err instanceof FlotillaError && CALLER_FAULTS.has(err.code) ? 'refused' : 'failed';
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

    const settle = (err: unknown, value?: UploadResponse) => {
      if (settled) return;
      settled = true;
      const bytes = session?.bytesReceived ?? 0;
      const what = session ? { app: session.descriptor.app, version: session.descriptor.version } : {};
      if (err) {
        const result = resultOf(err);
        metrics.uploads.inc({ result });
        metrics.uploadBytes.inc({ result }, bytes);
        logger.warn({ ...what, bytes, err: errorMessage(err) }, result === 'refused' ? 'upload refused' : 'upload failed');
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
      work = work
        .then(() => handle(msg))
        .then(
          () => {
            if (!settled) call.resume();
          },
          (err: unknown) => settle(err),
        );
    });

    call.on('end', () => {
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
   */
  async function Download(call: ServerWritableStream<DownloadRequest__Output, DownloadChunk>): Promise<void> {
    let opened: OpenArtifact | undefined;
    let sent = 0;
    const sha256 = call.request.sha256;
    try {
      const offset = readUint64(call.request.offset, 'offset');
      opened = await artifacts.openForDownload(sha256, offset);
      let position = offset;
      while (position < opened.size && !call.cancelled) {
        const data = Buffer.allocUnsafe(Math.min(deps.downloadChunkBytes, opened.size - position));
        const { bytesRead } = await opened.handle.read(data, 0, data.length, position);
        if (bytesRead === 0) throw new InternalError(`artifact ${sha256} ended early on disk at byte ${position}`);
        const more = call.write({ offset: String(position), data: data.subarray(0, bytesRead) });
        position += bytesRead;
        sent += bytesRead;
        if (!more) await drainedOrCancelled(call);
      }
      metrics.downloadBytes.inc(sent);
      if (call.cancelled) {
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
        logger.info({ sha256, err: errorMessage(err) }, 'download refused');
        call.emit('error', toServiceError(err));
      }
    } finally {
      await opened?.handle.close().catch(() => undefined);
    }
  }

  return { Upload, Download };
}

function drainedOrCancelled(call: ServerWritableStream<DownloadRequest__Output, DownloadChunk>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      call.off('error', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
    call.on('close', done);
    call.on('error', done);
  });
}
