import { z } from 'zod';
import { durationSchema } from '@flotilla/shared';

/** The artifact streams' limits (`limits:` in the controller config). */
export interface StreamLimitSettings {
  /** Artifact streams (uploads and downloads) open at once, from everyone. @default 512 */
  readonly maxStreams: number;
  /**
   * Artifact streams open at once from one peer address. Hosts behind one NAT address share it.
   * @default 16
   */
  readonly maxStreamsPerPeer: number;
  /** Uploads at once, from everyone: each holds a temporary file and disk space. @default 4 */
  readonly maxUploads: number;
}

/** `limits:` in the controller config: what any one caller, or all of them, may spend. */
export interface LimitsConfig extends StreamLimitSettings {
  /** An upload that sends nothing for this long is dropped (its temporary file removed). @default 30000 (30s) */
  readonly uploadIdleTimeoutMs: number;
  /** An upload not finished this long after it began is dropped, however steadily it trickles. @default 3600000 (1h) */
  readonly uploadDeadlineMs: number;
  /** A download whose client takes no chunk for this long is ended (it resumes from its offset). @default 60000 (60s) */
  readonly downloadStallTimeoutMs: number;
  /**
   * Messages (heartbeats, announces) one host may send per second, on average: twice what an
   * agent at the shortest heartbeat interval it allows (100 ms) sends. @default 20
   */
  readonly hostMessagesPerSecond: number;
  /** ...and in one burst above that average. @default 50 */
  readonly hostMessageBurst: number;
}

const duration = durationSchema;

/**
 * YAML:
 * ```yaml
 * limits:
 *   maxStreams: 512
 *   maxStreamsPerPeer: 16
 *   maxUploads: 4
 *   uploadIdleTimeout: 30s
 *   uploadDeadline: 1h
 *   downloadStallTimeout: 60s
 *   hostMessagesPerSecond: 20
 *   hostMessageBurst: 50
 * ```
 */
export const limitsConfigSchema = z
  .strictObject({
    maxStreams: z.number().int().min(1).max(100_000).default(512),
    maxStreamsPerPeer: z.number().int().min(1).max(100_000).default(16),
    maxUploads: z.number().int().min(1).max(1_000).default(4),
    uploadIdleTimeout: duration('limits.uploadIdleTimeout').pipe(z.number().min(100, 'must be at least 100ms')).prefault('30s'),
    uploadDeadline: duration('limits.uploadDeadline').pipe(z.number().min(1000, 'must be at least 1s')).prefault('1h'),
    downloadStallTimeout: duration('limits.downloadStallTimeout').pipe(z.number().min(100, 'must be at least 100ms')).prefault('60s'),
    hostMessagesPerSecond: z.number().gt(0).max(10_000).default(20),
    hostMessageBurst: z.number().int().min(1).max(100_000).default(50),
  })
  .prefault({})
  .transform(
    ({ uploadIdleTimeout, uploadDeadline, downloadStallTimeout, ...rest }): LimitsConfig =>
      Object.freeze({ ...rest, uploadIdleTimeoutMs: uploadIdleTimeout, uploadDeadlineMs: uploadDeadline, downloadStallTimeoutMs: downloadStallTimeout }),
  );
