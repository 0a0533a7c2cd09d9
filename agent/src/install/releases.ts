import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readdir, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import type { AppUser } from '../process/app-user.js';
import { join } from 'node:path';
import { assertAppName, assertVersion, ConflictError, NotFoundError, VERSION, type Logger } from '@flotilla/shared';
import { errnoCode, syncDir } from './durable.js';
import { readReleaseMarker } from './marker.js';
import type { ReleaseMarker } from './types.js';
import { STAGING_PREFIX } from './staging.js';

/** One unpacked release of an app. */
export interface ReleaseInfo {
  readonly version: string;
  readonly dir: string;
  /** From the marker; for a directory without one, its modification time. */
  readonly unpackedAtMs: number;
  /** Null when the directory has no readable marker (it was not unpacked by the agent). */
  readonly marker: ReleaseMarker | null;
}

export interface PruneOptions {
  /** Releases to keep in all, newest first; current and protected ones always stay. */
  keep: number;
  /** Versions never removed (the caller passes the previous and the stable version). */
  protect?: readonly string[];
}

const CURRENT = 'current';
const CURRENT_TMP_PREFIX = 'current.tmp-';

/**
 * The agent's on-host layout of apps and their releases:
 *
 *   <dataDir>/cache/                      verified downloads (0700)
 *   <dataDir>/apps/<app>/releases/<v>/    unpacked releases, each with a marker
 *   <dataDir>/apps/<app>/current          relative symlink to releases/<v>, switched atomically
 *   <dataDir>/apps/<app>/logs/<app>.log   the app's output
 */
export class ReleaseStore {
  readonly dataDir: string;
  readonly cacheDir: string;
  readonly appsDir: string;
  readonly #log: Logger;

  constructor(opts: { dataDir: string; logger: Logger }) {
    this.dataDir = opts.dataDir;
    this.cacheDir = join(opts.dataDir, 'cache');
    this.appsDir = join(opts.dataDir, 'apps');
    this.#log = opts.logger.child({ component: 'releases' });
  }

  appDir(app: string): string {
    return join(this.appsDir, assertAppName(app));
  }

  releasesDir(app: string): string {
    return join(this.appDir(app), 'releases');
  }

  releaseDir(app: string, version: string): string {
    return join(this.releasesDir(app), assertVersion(version));
  }

  currentLink(app: string): string {
    return join(this.appDir(app), CURRENT);
  }

  logDir(app: string): string {
    return join(this.appDir(app), 'logs');
  }

  logFile(app: string): string {
    return join(this.logDir(app), `${assertAppName(app)}.log`);
  }

  /**
   * Creates the data, cache and apps directories, private to the agent. When apps run as users
   * of their own, the data and apps directories are 0711: an app may pass through to its own
   * release but list nothing, and state.json (0600) and the cache (0700) stay the agent's.
   * The modes are set every start, so an older, looser layout is tightened.
   */
  async ensureLayout(appsRunApart = false): Promise<void> {
    const through = appsRunApart ? 0o711 : 0o700;
    await mkdir(this.dataDir, { recursive: true, mode: through });
    await mkdir(this.cacheDir, { recursive: true, mode: 0o700 });
    await mkdir(this.appsDir, { recursive: true, mode: through });
    await chmod(this.dataDir, through);
    await chmod(this.cacheDir, 0o700);
    await chmod(this.appsDir, through);
  }

  /**
   * Lets an app's own user (and no other app's) read its releases: `apps/<app>` and its
   * `releases` belong to the app user's group with mode 0750; everything stays the agent's, so
   * the app cannot change a release. Without an app user, the app's directories are the agent's alone.
   */
  async grantAppAccess(app: string, user: AppUser | undefined): Promise<void> {
    await mkdir(this.releasesDir(app), { recursive: true, mode: 0o750 });
    for (const dir of [this.appDir(app), this.releasesDir(app)]) {
      if (user !== undefined) await chown(dir, process.getuid?.() ?? -1, user.gid);
      await chmod(dir, 0o750);
    }
  }

  /** Creates an app's directories and clears what an interrupted switch of `current` left. */
  async ensureApp(app: string): Promise<void> {
    await mkdir(this.releasesDir(app), { recursive: true, mode: 0o750 });
    // The agent writes the app's log through a descriptor it hands the app: the app needs no way in.
    await mkdir(this.logDir(app), { recursive: true, mode: 0o750 });
    for (const name of await readdir(this.appDir(app))) {
      if (name.startsWith(CURRENT_TMP_PREFIX)) await rm(join(this.appDir(app), name), { force: true });
    }
  }

  /** Apps that have a directory on this host. */
  async listApps(): Promise<string[]> {
    const names = await readdirOrEmpty(this.appsDir);
    return names.filter((n) => !n.startsWith('.')).sort();
  }

  async readMarker(app: string, version: string): Promise<ReleaseMarker | null> {
    return readReleaseMarker(this.releaseDir(app, version));
  }

  /** True when the release is unpacked and came from exactly these bytes. */
  async hasRelease(app: string, version: string, sha256: string): Promise<boolean> {
    const m = await this.readMarker(app, version);
    return m !== null && m.app === app && m.version === version && m.sha256 === sha256;
  }

  /** The version `current` points at; null before the first activation. */
  async currentVersion(app: string): Promise<string | null> {
    let target: string;
    try {
      target = await readlink(this.currentLink(app));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return null;
      if (code === 'EINVAL') throw new ConflictError(`${this.currentLink(app)} is not a symbolic link`);
      throw err;
    }
    const m = /^releases\/([^/]+)\/?$/.exec(target);
    const version = m?.[1];
    if (version === undefined || !VERSION.test(version) || version.includes('..')) {
      this.#log.warn({ app, target }, 'current link points somewhere unexpected');
      return null;
    }
    return version;
  }

  /**
   * Points `current` at a release: a new relative link is made beside it and renamed over it, so
   * `current` is never missing once it existed and never points at a half-written name. Returns
   * the version it pointed at before.
   */
  async activate(app: string, version: string): Promise<{ previous: string | null }> {
    const dir = this.releaseDir(app, version);
    const st = await lstat(dir).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    });
    if (!st?.isDirectory()) throw new NotFoundError(`release ${app}@${version} is not unpacked on this host`);
    const previous = await this.currentVersion(app);
    const appDir = this.appDir(app);
    const tmp = join(appDir, `${CURRENT_TMP_PREFIX}${randomBytes(6).toString('hex')}`);
    await symlink(`releases/${version}`, tmp);
    try {
      await rename(tmp, this.currentLink(app));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await syncDir(appDir);
    this.#log.info({ app, version, previous }, 'release activated');
    return { previous };
  }

  /** Unpacked releases, oldest first. Staging directories are not releases. */
  async listReleases(app: string): Promise<ReleaseInfo[]> {
    const releasesDir = this.releasesDir(app);
    const out: ReleaseInfo[] = [];
    for (const name of await readdirOrEmpty(releasesDir)) {
      if (name.startsWith('.') || !VERSION.test(name) || name.includes('..')) continue;
      const dir = join(releasesDir, name);
      const st = await lstat(dir);
      if (!st.isDirectory()) continue;
      const marker = await readReleaseMarker(dir);
      out.push({ version: name, dir, unpackedAtMs: marker?.unpackedAtMs ?? st.mtimeMs, marker });
    }
    return out.sort((a, b) => a.unpackedAtMs - b.unpackedAtMs || a.version.localeCompare(b.version));
  }

  /**
   * Removes the oldest releases so that `keep` remain, never `current` nor a protected version
   * (those count toward `keep`, and stay even when they alone exceed it). Returns the removed
   * versions.
   */
  async prune(app: string, opts: PruneOptions): Promise<string[]> {
    const keep = Math.max(0, Math.floor(opts.keep));
    const current = await this.currentVersion(app);
    const kept = new Set<string>(opts.protect ?? []);
    if (current !== null) kept.add(current);
    const releases = await this.listReleases(app);
    for (const r of [...releases].reverse()) {
      if (kept.size >= keep) break;
      kept.add(r.version);
    }
    const removed: string[] = [];
    for (const r of releases) {
      if (kept.has(r.version)) continue;
      await this.#remove(app, r.version);
      removed.push(r.version);
    }
    if (removed.length > 0) this.#log.info({ app, removed, kept: [...kept] }, 'old releases pruned');
    return removed;
  }

  /** Removes one release (for example one whose marker does not match); never `current`. */
  async removeRelease(app: string, version: string): Promise<void> {
    if ((await this.currentVersion(app)) === version) {
      throw new ConflictError(`release ${app}@${version} is current and cannot be removed`, {
        details: { kind: 'release-current', app, version },
      });
    }
    await this.#remove(app, version);
  }

  async #remove(app: string, version: string): Promise<void> {
    // Renamed out of the way first (one atomic step), so a crash halfway through the delete
    // leaves a staging leftover that is cleaned at start, never a half-deleted release that
    // still carries its marker.
    const trash = join(this.releasesDir(app), `${STAGING_PREFIX}removed-${randomBytes(6).toString('hex')}`);
    try {
      await rename(this.releaseDir(app, version), trash);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    await rm(trash, { recursive: true, force: true, maxRetries: 3 });
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}
