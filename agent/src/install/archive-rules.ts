import { win32 } from 'node:path';
import { UnsafeArchiveError } from '@flotilla/shared';
import { MARKER_FILE, type UnpackLimits, type UnsafeArchiveRule } from './types.js';

/** What the tar parser tells us about one entry before any of its bytes are written. */
export interface EntryHeader {
  /** The path as the archive spells it (after pax/GNU long-name records). */
  readonly path: string;
  /** node-tar's type name: 'File', 'Directory', 'SymbolicLink', 'Link', 'CharacterDevice', ... */
  readonly type: string;
  readonly size: number;
  readonly mode: number | undefined;
  readonly linkpath: string | undefined;
}

/** How an admitted entry is to be written. */
export interface AdmittedEntry {
  /** Normalised path relative to the release root ('' for the root itself). */
  readonly path: string;
  readonly kind: EntryKind;
  /** The archive's permission bits with everything beyond 0o777 removed. */
  readonly mode: number | undefined;
  /** For hard links: the normalised path of the file linked to. */
  readonly linkTarget: string | undefined;
}

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink';

const KIND_OF_TYPE: Readonly<Record<string, EntryKind>> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Directory: 'directory',
  SymbolicLink: 'symlink',
  Link: 'hardlink',
};

const SPECIAL_BITS = 0o7000;

/**
 * The unpack rules as a pure state machine over the archive's headers, in archive order. It
 * decides before a single byte of an entry is written, so a refused archive never gets further
 * than the entry that broke a rule. It also keeps the model of what is on disk that the later
 * checks need: which paths are symbolic links and which are regular files.
 */
export class ArchiveRules {
  entries = 0;
  bytes = 0;
  readonly #limits: UnpackLimits;
  /** Latest kind of each path written so far (hard links count as files). */
  readonly #kinds = new Map<string, 'file' | 'directory' | 'symlink'>();
  /**
   * Every path a symbolic link ever took, case- and Unicode-folded so that a filesystem that
   * folds names cannot be used to reach through a link under another spelling.
   */
  readonly #symlinkKeys = new Set<string>();

  constructor(limits: UnpackLimits) {
    this.#limits = limits;
  }

  /** Checks one entry; throws UnsafeArchiveError naming the entry and the rule it breaks. */
  admit(header: EntryHeader): AdmittedEntry {
    const raw = header.path;
    this.entries += 1;
    if (this.entries > this.#limits.maxEntries) {
      refuse(raw, 'max-entries', `the archive has more than ${this.#limits.maxEntries} entries`);
    }
    const parts = this.#relativeParts(raw, 'path');
    const path = parts.join('/');
    if (parts.length > this.#limits.maxDepth) {
      refuse(raw, 'max-depth', `the path is ${parts.length} levels deep, more than ${this.#limits.maxDepth}`);
    }

    const kind = KIND_OF_TYPE[header.type];
    if (kind === undefined) {
      refuse(raw, 'entry-type', `entries of type ${header.type} are not allowed (only files, directories and links)`);
    }
    if (typeof header.mode === 'number' && (header.mode & SPECIAL_BITS) !== 0) {
      refuse(raw, 'special-mode', `mode ${octal(header.mode)} sets setuid, setgid or sticky bits`);
    }
    if (!Number.isSafeInteger(header.size) || header.size < 0) {
      refuse(raw, 'malformed-archive', `the header declares an invalid size (${header.size})`);
    }
    if (this.bytes + header.size > this.#limits.maxBytes) {
      refuse(
        raw,
        'max-bytes',
        `the entry declares ${header.size} bytes, taking the release past the limit of ${this.#limits.maxBytes} bytes`,
      );
    }
    this.bytes += header.size;

    if (parts.length === 0) {
      if (kind !== 'directory') refuse(raw, 'root-entry', 'only a directory may stand for the release root');
      return { path, kind, mode: sanitizeMode(header.mode), linkTarget: undefined };
    }
    if (parts.length === 1 && parts[0] === MARKER_FILE) {
      refuse(raw, 'reserved-name', `${MARKER_FILE} is written by the agent and may not come from the archive`);
    }
    const through = this.#symlinkAncestor(parts);
    if (through !== undefined) {
      refuse(raw, 'through-symlink', `the entry lies under "${through}", which is a symbolic link in this archive`);
    }

    let linkTarget: string | undefined;
    switch (kind) {
      case 'symlink':
        this.#checkSymlink(raw, parts, header.linkpath);
        this.#kinds.set(path, 'symlink');
        this.#symlinkKeys.add(foldKey(path));
        break;
      case 'hardlink':
        linkTarget = this.#checkHardlink(raw, path, header.linkpath);
        this.#kinds.set(path, 'file');
        break;
      case 'file':
        this.#kinds.set(path, 'file');
        break;
      case 'directory':
        this.#kinds.set(path, 'directory');
        break;
    }
    return { path, kind, mode: sanitizeMode(header.mode), linkTarget };
  }

  /** The latest kind written at a normalised path, if any. */
  kindOf(path: string): 'file' | 'directory' | 'symlink' | undefined {
    return this.#kinds.get(path);
  }

  /** Paths that end up as symbolic links once every entry is written. */
  symlinks(): string[] {
    const out: string[] = [];
    for (const [path, kind] of this.#kinds) if (kind === 'symlink') out.push(path);
    return out;
  }

  /** Splits an archive path into clean components; refuses absolute paths and `..`. */
  #relativeParts(raw: string, what: 'path' | 'hard link target'): string[] {
    if (raw.includes('\0')) refuse(raw, 'path-characters', `the ${what} contains a NUL character`);
    if (Buffer.byteLength(raw) > this.#limits.maxPathLength) {
      refuse(raw, 'max-path-length', `the ${what} is longer than ${this.#limits.maxPathLength} bytes`);
    }
    if (isAbsolute(raw)) {
      refuse(raw, what === 'path' ? 'absolute-path' : 'hardlink-target', `the ${what} is absolute`);
    }
    // Backslashes are ordinary name characters on Linux, but node-tar treats them as separators
    // when it looks for `..`; refusing here keeps the two views of the archive identical.
    if (raw.split(/[\\/]/).includes('..')) {
      refuse(raw, what === 'path' ? 'dotdot-path' : 'hardlink-target', `the ${what} has a ".." component`);
    }
    return raw.split('/').filter((p) => p !== '' && p !== '.');
  }

  #symlinkAncestor(parts: readonly string[]): string | undefined {
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.#symlinkKeys.has(foldKey(prefix))) return prefix;
    }
    return undefined;
  }

  #checkSymlink(raw: string, parts: readonly string[], linkpath: string | undefined): void {
    if (!linkpath) refuse(raw, 'malformed-archive', 'the symbolic link has no target');
    if (linkpath.includes('\0')) refuse(raw, 'path-characters', 'the link target contains a NUL character');
    if (Buffer.byteLength(linkpath) > this.#limits.maxPathLength) {
      refuse(raw, 'max-path-length', `the link target is longer than ${this.#limits.maxPathLength} bytes`);
    }
    if (isAbsolute(linkpath)) {
      refuse(raw, 'symlink-absolute', `the symbolic link points to the absolute path "${linkpath}"`);
    }
    // Resolve lexically from the link's own directory; the on-disk realpath check after the
    // unpack catches what lexical resolution cannot see (links through other links).
    const resolved = parts.slice(0, -1);
    for (const step of linkpath.split('/')) {
      if (step === '' || step === '.') continue;
      if (step === '..') {
        if (resolved.length === 0) {
          refuse(raw, 'symlink-escape', `the symbolic link points to "${linkpath}", outside the release`);
        }
        resolved.pop();
      } else {
        resolved.push(step);
      }
    }
  }

  #checkHardlink(raw: string, path: string, linkpath: string | undefined): string {
    if (!linkpath) refuse(raw, 'malformed-archive', 'the hard link has no target');
    const target = this.#relativeParts(linkpath, 'hard link target');
    const targetPath = target.join('/');
    if (target.length === 0 || targetPath === path) {
      refuse(raw, 'hardlink-target', `the hard link points to "${linkpath}", which is not a file`);
    }
    const through = this.#symlinkAncestor(target);
    if (through !== undefined) {
      refuse(raw, 'hardlink-target', `the hard link's target "${linkpath}" lies under the symbolic link "${through}"`);
    }
    if (this.#kinds.get(targetPath) !== 'file') {
      refuse(raw, 'hardlink-target', `the hard link points to "${linkpath}", which is not an earlier file of this archive`);
    }
    return targetPath;
  }
}

/** The one error every rule raises, naming the entry and the rule. */
export function unsafeArchive(entry: string, rule: UnsafeArchiveRule, why: string): UnsafeArchiveError {
  return new UnsafeArchiveError(`release archive refused: entry "${printable(entry)}" breaks rule ${rule}: ${why}`, {
    details: { entry, rule },
  });
}

export function refuse(entry: string, rule: UnsafeArchiveRule, why: string): never {
  throw unsafeArchive(entry, rule, why);
}

function isAbsolute(p: string): boolean {
  // Drive letters and UNC roots are ordinary names on Linux, but node-tar strips them as roots.
  return p.startsWith('/') || win32.isAbsolute(p) || /^[A-Za-z]:/.test(p);
}

function sanitizeMode(mode: number | undefined): number | undefined {
  return typeof mode === 'number' ? mode & 0o777 : undefined;
}

/** Characters some filesystems (HFS+, APFS) skip when they compare names. */
const IGNORABLE = /[\u00ad\u034f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/g;

/**
 * One spelling for every name a folding filesystem could take as the same. `toLowerCase` alone is
 * simple case mapping: the kernel's casefold (ext4, f2fs) is full folding, where `ß`, `ẞ` and
 * `SS` are all `ss`. Upper then lower reaches full folding for those; compatibility normalisation
 * and dropping ignorables cover the other folding filesystems. Folding more names together than
 * a given filesystem does only refuses more archives, never lets one through.
 */
export function foldKey(path: string): string {
  return path.normalize('NFKC').replace(IGNORABLE, '').toLowerCase().toUpperCase().toLowerCase().normalize('NFKC');
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}

/** Keeps control characters in hostile names from garbling log lines and messages. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 512);
}
