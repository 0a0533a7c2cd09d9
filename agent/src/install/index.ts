export { ArchiveRules, type AdmittedEntry, type EntryHeader, type EntryKind } from './archive-rules.js';
export {
  createArtifactsClient,
  DEFAULT_CHANNEL_OPTIONS,
  DEFAULT_DOWNLOAD_RETRY,
  downloadArtifact,
  type ArtifactsClientOptions,
  type DownloadOptions,
  type RetryPolicy,
} from './download.js';
export { parseReleaseMarker, readReleaseMarker, writeReleaseMarker } from './marker.js';
export { ReleaseStore, type PruneOptions, type ReleaseInfo } from './releases.js';
export {
  DEFAULT_UNPACK_LIMITS,
  MARKER_FILE,
  type ReleaseMarker,
  type UnpackLimits,
  type UnsafeArchiveRule,
} from './types.js';
export { cleanStaging, STAGING_PREFIX } from './staging.js';
export { unpackRelease, type UnpackOptions, type UnpackResult } from './unpack.js';
