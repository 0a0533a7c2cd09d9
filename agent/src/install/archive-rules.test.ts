import { UnsafeArchiveError } from '@flotilla/shared';
import { describe, expect, it } from 'vitest';
import { ArchiveRules, type EntryHeader } from './archive-rules.js';
import { DEFAULT_UNPACK_LIMITS, type UnpackLimits } from './types.js';

const file = (path: string, extra: Partial<EntryHeader> = {}): EntryHeader => ({
  path,
  type: 'File',
  size: 10,
  mode: 0o644,
  linkpath: undefined,
  ...extra,
});
const dir = (path: string, mode = 0o755): EntryHeader => ({ path, type: 'Directory', size: 0, mode, linkpath: undefined });
const symlink = (path: string, linkpath: string): EntryHeader => ({ path, type: 'SymbolicLink', size: 0, mode: 0o777, linkpath });
const hardlink = (path: string, linkpath: string): EntryHeader => ({ path, type: 'Link', size: 0, mode: 0o644, linkpath });

function rules(limits: Partial<UnpackLimits> = {}): ArchiveRules {
  return new ArchiveRules({ ...DEFAULT_UNPACK_LIMITS, ...limits });
}

function ruleBroken(r: ArchiveRules, header: EntryHeader): string {
  try {
    r.admit(header);
  } catch (err) {
    expect(err).toBeInstanceOf(UnsafeArchiveError);
    const e = err as UnsafeArchiveError;
    expect(e.message).toContain(e.details.rule as string);
    return e.details.rule as string;
  }
  throw new Error(`entry ${header.path} was admitted`);
}

describe('ArchiveRules', () => {
  it('admits ordinary entries and normalises their paths', () => {
    const r = rules();
    expect(r.admit(dir('./')).path).toBe('');
    expect(r.admit(file('./app//server.js')).path).toBe('app/server.js');
    expect(r.admit(dir('./app/lib/')).path).toBe('app/lib');
    expect(r.admit(symlink('./node_modules/.bin/x', '../pkg/bin.js')).kind).toBe('symlink');
    expect(r.admit(hardlink('copy.js', './app/server.js')).linkTarget).toBe('app/server.js');
    expect(r.entries).toBe(5);
    expect(r.bytes).toBe(10);
    expect(r.symlinks()).toEqual(['node_modules/.bin/x']);
  });

  it('strips permission bits beyond 0777 only after refusing special ones', () => {
    const r = rules();
    expect(r.admit(file('run.sh', { mode: 0o100755 })).mode).toBe(0o755);
    expect(ruleBroken(r, file('su', { mode: 0o4755 }))).toBe('special-mode');
    expect(ruleBroken(r, file('sg', { mode: 0o2755 }))).toBe('special-mode');
    expect(ruleBroken(r, dir('tmp', 0o1777))).toBe('special-mode');
  });

  it('refuses absolute paths in every spelling node-tar would strip', () => {
    for (const p of ['/etc/passwd', '//server/share/x', 'C:/windows/x', 'c:relative', '\\\\server\\share\\x']) {
      expect(ruleBroken(rules(), file(p))).toBe('absolute-path');
    }
  });

  it('refuses any .. component, also behind backslashes', () => {
    for (const p of ['../x', 'a/../../x', 'a/..', '..', 'a\\..\\x']) {
      expect(ruleBroken(rules(), file(p))).toBe('dotdot-path');
    }
  });

  it('refuses entry types other than files, directories and links', () => {
    for (const type of ['CharacterDevice', 'BlockDevice', 'FIFO', 'GNUDumpDir', 'SparseFile', 'Unsupported']) {
      expect(ruleBroken(rules(), { ...file('x'), type })).toBe('entry-type');
    }
  });

  it('refuses symbolic links that point outside the release', () => {
    expect(ruleBroken(rules(), symlink('a', '/etc'))).toBe('symlink-absolute');
    expect(ruleBroken(rules(), symlink('a', '..'))).toBe('symlink-escape');
    expect(ruleBroken(rules(), symlink('d/a', '../../x'))).toBe('symlink-escape');
    expect(ruleBroken(rules(), symlink('d/a', 'x/../../../y'))).toBe('symlink-escape');
    expect(() => rules().admit(symlink('d/a', '../x'))).not.toThrow();
    expect(() => rules().admit(symlink('b', '.'))).not.toThrow();
  });

  it('refuses entries under a path that is a symbolic link, in any case spelling', () => {
    const r = rules();
    r.admit(symlink('lib', 'sub'));
    expect(ruleBroken(r, file('lib/evil'))).toBe('through-symlink');
    expect(ruleBroken(r, file('LIB/evil'))).toBe('through-symlink');
    expect(ruleBroken(r, dir('lib/deeper/still'))).toBe('through-symlink');
    // Replacing the link itself is fine: the unpacker removes a link before writing over it.
    expect(() => r.admit(file('lib'))).not.toThrow();
  });

  it('admits hard links only to earlier regular files reached without links', () => {
    const r = rules();
    r.admit(file('a/f'));
    r.admit(dir('d'));
    r.admit(symlink('l', 'a'));
    expect(r.admit(hardlink('g', 'a/f')).linkTarget).toBe('a/f');
    expect(r.admit(hardlink('g2', 'g')).linkTarget).toBe('g');
    expect(ruleBroken(r, hardlink('h', '/etc/passwd'))).toBe('hardlink-target');
    expect(ruleBroken(r, hardlink('h', '../x'))).toBe('hardlink-target');
    expect(ruleBroken(r, hardlink('h', 'later'))).toBe('hardlink-target');
    expect(ruleBroken(r, hardlink('h', 'd'))).toBe('hardlink-target');
    expect(ruleBroken(r, hardlink('h', 'l'))).toBe('hardlink-target');
    expect(ruleBroken(r, hardlink('h', 'l/f'))).toBe('hardlink-target');
    expect(ruleBroken(r, hardlink('h', 'h'))).toBe('hardlink-target');
  });

  it('forgets a file once a later entry puts a link in its place', () => {
    const r = rules();
    r.admit(file('f'));
    r.admit(symlink('f', 'elsewhere'));
    expect(ruleBroken(r, hardlink('h', 'f'))).toBe('hardlink-target');
  });

  it('refuses the marker file and non-directories standing for the root', () => {
    expect(ruleBroken(rules(), file('./.flotilla-release.json'))).toBe('reserved-name');
    expect(ruleBroken(rules(), file('./'))).toBe('root-entry');
    expect(() => rules().admit(file('sub/.flotilla-release.json'))).not.toThrow();
  });

  it('enforces the caps before the entry is written', () => {
    const bytes = rules({ maxBytes: 100 });
    bytes.admit(file('a', { size: 60 }));
    expect(ruleBroken(bytes, file('b', { size: 41 }))).toBe('max-bytes');
    expect(bytes.bytes).toBe(60);

    const bomb = rules();
    expect(ruleBroken(bomb, file('zeros', { size: 4 * 1024 ** 3 }))).toBe('max-bytes');

    const entries = rules({ maxEntries: 2 });
    entries.admit(file('a'));
    entries.admit(file('b'));
    expect(ruleBroken(entries, dir('c'))).toBe('max-entries');

    expect(() => rules({ maxDepth: 3 }).admit(file('./a/b/c'))).not.toThrow();
    expect(ruleBroken(rules({ maxDepth: 3 }), file('a/b/c/d'))).toBe('max-depth');
    expect(ruleBroken(rules({ maxPathLength: 20 }), file('x'.repeat(21)))).toBe('max-path-length');
    expect(ruleBroken(rules({ maxPathLength: 20 }), symlink('x', 'y'.repeat(21)))).toBe('max-path-length');
  });

  it('refuses NUL characters and negative sizes', () => {
    expect(ruleBroken(rules(), file('a\0b'))).toBe('path-characters');
    expect(ruleBroken(rules(), file('a', { size: -1 }))).toBe('malformed-archive');
  });
});
