/** The file inside every unpacked release that says which artifact it came from. */
export const MARKER_FILE = '.flotilla-release.json';

/**
 * Written into a release's staging directory just before it is renamed into place, so a release
 * directory without one was never completely unpacked by the agent.
 */
export interface ReleaseMarker {
  readonly app: string;
  readonly version: string;
  readonly sha256: string;
  readonly unpackedAtMs: number;
}

/** Caps on what one release may unpack to; a tarball over any of them is refused as a whole. */
export interface UnpackLimits {
  /** Sum of the sizes the archive's headers declare. @default 2 GiB */
  readonly maxBytes: number;
  /** Entries of every kind (files, directories, links). @default 100000 */
  readonly maxEntries: number;
  /** Path components below the release root. @default 64 */
  readonly maxDepth: number;
  /** Bytes in one entry's path or link target. @default 4096 */
  readonly maxPathLength: number;
}

export const DEFAULT_UNPACK_LIMITS: Readonly<UnpackLimits> = Object.freeze({
  maxBytes: 2 * 1024 ** 3,
  maxEntries: 100_000,
  maxDepth: 64,
  maxPathLength: 4096,
});

/** One name per unpack rule, carried in UnsafeArchiveError's `details.rule`. */
export type UnsafeArchiveRule =
  | 'absolute-path'
  | 'dotdot-path'
  | 'path-characters'
  | 'root-entry'
  | 'reserved-name'
  | 'entry-type'
  | 'special-mode'
  | 'symlink-absolute'
  | 'symlink-escape'
  | 'symlink-realpath'
  | 'hardlink-target'
  | 'through-symlink'
  | 'max-bytes'
  | 'max-inflated-bytes'
  | 'max-entries'
  | 'max-depth'
  | 'max-path-length'
  | 'malformed-archive';
