import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ASSIGNMENT_TYPE,
  UnavailableError,
  createLogger,
  generateKeyPairPem,
  makeDescriptor,
  parsePrivateKey,
  parsePublicKey,
  signDescriptor,
  type AppAssignment,
  type Assignment,
  type Descriptor,
  type SigningKey,
  type TrustedKey,
} from '@flotilla/shared';
import { Converger, type ReleaseLayout } from './converge.js';
import { ensureRoomForDownload } from './install/disk-space.js';
import type { AppRunner, BesideRunner } from './processes.js';
import type { SlotWeight } from './traffic/index.js';
import { EMPTY_STATE, StateKeeper, StateStore } from './state.js';

const logger = createLogger({ name: 'test', level: 'silent' });

function keyPair(): { signer: SigningKey; trusted: TrustedKey } {
  const pem = generateKeyPairPem();
  return { signer: parsePrivateKey(pem.privateKeyPem, 'test.key'), trusted: parsePublicKey(pem.publicKeyPem, 'test.pub') };
}

const releaseKey = keyPair();
const rogueKey = keyPair();
const sha = (version: string) => version.replace(/\D/g, '').padEnd(64, 'a').slice(0, 64);

function release(app: string, version: string, key: SigningKey = releaseKey.signer): AppAssignment {
  return { version, release: signDescriptor(makeDescriptor({ app, version, sha256: sha(version), size: 100 }), key) };
}

function assignment(seq: number, apps: Record<string, AppAssignment>): Assignment {
  return { type: ASSIGNMENT_TYPE, hostId: 'h1', seq, issuedAtMs: 0, expiresAtMs: Number.MAX_SAFE_INTEGER, apps };
}

/** Everything the converger does to the outside world, in order. */
type Event = string;

class FakeReleases implements ReleaseLayout {
  readonly unpacked = new Map<string, string>(); // "app@version" → sha256
  readonly current = new Map<string, string>();
  constructor(
    private readonly root: string,
    private readonly events: Event[],
  ) {}
  releasesDir(app: string): string {
    return join(this.root, app, 'releases');
  }
  releaseDir(app: string, version: string): string {
    return join(this.releasesDir(app), version);
  }
  logDir(app: string): string {
    return join(this.root, app, 'logs');
  }
  async hasRelease(app: string, version: string, sha256: string): Promise<boolean> {
    return this.unpacked.get(`${app}@${version}`) === sha256;
  }
  async activate(app: string, version: string): Promise<unknown> {
    await activate?.(app, version);
    this.events.push(`activate ${app}@${version}`);
    this.current.set(app, version);
    return {};
  }
  async removeRelease(): Promise<void> {}
  async prune(app: string, opts: { keep: number; protect: readonly string[] }): Promise<unknown> {
    this.events.push(`prune ${app} protect=${[...opts.protect].join(',')}`);
    return [];
  }
  /** Start command of the releases `put` makes from now on. */
  command: string[] = ['true'];
  /** More manifest fields for the releases `put` makes from now on. */
  manifestExtra: Record<string, unknown> = {};
  /** What unpack leaves: the release dir with its manifest, and a marker. */
  async put(app: string, version: string): Promise<void> {
    const dir = this.releaseDir(app, version);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'flotilla.json'), JSON.stringify({ app, version, start: { command: this.command }, ...this.manifestExtra }));
    this.unpacked.set(`${app}@${version}`, sha(version));
  }
}

class FakeRunner implements AppRunner {
  readonly running = new Map<string, { version: string }>();
  constructor(protected readonly events: Event[]) {}
  get(app: string) {
    return this.running.get(app);
  }
  apps(): string[] {
    return [...this.running.keys()];
  }
  identity(app: string) {
    return this.running.has(app) ? { pid: 1000, startTime: `t-${this.running.get(app)?.version}` } : null;
  }
  async launch(r: { app: string; version: string }): Promise<unknown> {
    this.events.push(`launch ${r.app}@${r.version}`);
    this.running.set(r.app, { version: r.version });
    return {};
  }
  async stop(app: string): Promise<void> {
    if (!this.running.has(app)) return;
    this.events.push(`stop ${app}@${this.running.get(app)?.version}`);
    this.running.delete(app);
  }
}

let dir: string;
let events: Event[];
let releases: FakeReleases;
let runner: FakeRunner;
let keeper: StateKeeper;
let clock: number;
let download: (d: Descriptor, signal: AbortSignal) => Promise<string>;
let converger: Converger;
let activate: ((app: string, version: string) => Promise<void>) | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-converge-'));
  events = [];
  releases = new FakeReleases(join(dir, 'apps'), events);
  runner = new FakeRunner(events);
  keeper = new StateKeeper(new StateStore(dir, logger), EMPTY_STATE);
  clock = 1_000_000;
  activate = undefined;
  download = async (d) => {
    events.push(`download ${d.app}@${d.version}`);
    return join(dir, `${d.sha256}.tar.gz`);
  };
  converger = new Converger({
    logger,
    releaseKeys: [releaseKey.trusted],
    keepReleases: 5,
    appOverrides: {},
    releases,
    processes: runner,
    state: keeper,
    download: (d, signal) => download(d, signal),
    unpack: async (_tarball, d) => {
      events.push(`unpack ${d.app}@${d.version}`);
      await releases.put(d.app, d.version);
      return { manifestText: '' };
    },
    onProgress: () => undefined,
    now: () => clock,
  });
});

afterEach(async () => {
  await converger.close();
  await rm(dir, { recursive: true, force: true });
});

async function converge(a: Assignment, fresh = true): Promise<void> {
  converger.submit(a, fresh);
  await converger.idle();
}

describe('Converger', () => {
  it('installs a new version: download, unpack, stop old, switch, start new, prune', async () => {
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    events.length = 0;
    await converge(assignment(2, { web: { ...release('web', '2.0.0'), stableVersion: '1.0.0' } }));
    expect(events).toEqual([
      'download web@2.0.0',
      'unpack web@2.0.0',
      'stop web@1.0.0',
      'activate web@2.0.0',
      'launch web@2.0.0',
      'prune web protect=2.0.0,1.0.0',
    ]);
    expect(keeper.current.apps.web).toEqual({
      activeVersion: '2.0.0',
      previousVersion: '1.0.0',
      process: { pid: 1000, startTime: 't-2.0.0' },
    });
    expect(converger.progressOf('web')).toMatchObject({ phase: 'done', version: '2.0.0', error: null });
  });

  it('reverts to a release on disk without downloading it', async () => {
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    await converge(assignment(2, { web: release('web', '2.0.0') }));
    events.length = 0;
    await converge(assignment(3, { web: release('web', '1.0.0') }));
    expect(events.filter((e) => e.startsWith('download') || e.startsWith('unpack'))).toEqual([]);
    expect(releases.current.get('web')).toBe('1.0.0');
    expect(keeper.current.apps.web?.previousVersion).toBe('2.0.0');
  });

  it('does nothing when the desired version already runs', async () => {
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    events.length = 0;
    await converge(assignment(2, { web: release('web', '1.0.0') }));
    expect(events).toEqual([]);
  });

  it('refuses a descriptor signed by an untrusted key, leaves the old version running and does not retry it', async () => {
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    events.length = 0;
    const bad = assignment(2, { web: release('web', '2.0.0', rogueKey.signer) });
    await converge(bad);
    expect(events).toEqual([]);
    expect(runner.running.get('web')).toEqual({ version: '1.0.0' });
    expect(converger.progressOf('web')).toMatchObject({ phase: 'failed', version: '2.0.0' });
    expect(converger.progressOf('web')?.error).toContain('not trusted');
    // Passes without a new assignment (a reconnect, a timer) do not try again.
    clock += 3_600_000;
    converger.kick();
    await converger.idle();
    expect(events).toEqual([]);
  });

  it('refuses a release whose start program does not exist before stopping the running one', async () => {
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    events.length = 0;
    releases.command = ['./bin/missing-server'];
    await converge(assignment(2, { web: release('web', '2.0.0') }));
    expect(events).toEqual(['download web@2.0.0', 'unpack web@2.0.0']);
    expect(runner.running.get('web')).toEqual({ version: '1.0.0' });
    expect(converger.progressOf('web')).toMatchObject({ phase: 'failed', version: '2.0.0' });
    expect(converger.progressOf('web')?.error).toMatch(/\.\/bin\/missing-server" is not an executable file in the release/);
    releases.command = ['no-such-program-anywhere'];
    await converge(assignment(3, { web: release('web', '3.0.0') }));
    expect(runner.running.get('web')).toEqual({ version: '1.0.0' });
    expect(converger.progressOf('web')?.error).toMatch(/"no-such-program-anywhere" is not an executable on PATH/);
  });

  it('refuses a descriptor for another version', async () => {
    await converge(assignment(1, { web: { version: '3.0.0', release: release('web', '2.0.0').release } }));
    expect(events).toEqual([]);
    expect(converger.progressOf('web')?.error).toContain('expected "3.0.0"');
  });

  it('retries a transient download failure after the back-off, not before', async () => {
    let fail = true;
    download = async (d) => {
      events.push(`download ${d.app}@${d.version}`);
      if (fail) throw new UnavailableError('controller unreachable');
      return join(dir, 'x.tar.gz');
    };
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    // A passing outage is no verdict on the release: still downloading, with the reason.
    expect(converger.progressOf('web')).toMatchObject({
      phase: 'downloading',
      error: `attempt 1 failed; retrying at ${new Date(clock + 5_000).toISOString()}: controller unreachable`,
    });
    expect(events).toEqual(['download web@1.0.0']);
    converger.kick();
    await converger.idle();
    expect(events).toEqual(['download web@1.0.0']);
    fail = false;
    clock += 5_000;
    converger.kick();
    await converger.idle();
    expect(runner.running.get('web')).toEqual({ version: '1.0.0' });
    expect(converger.progressOf('web')?.phase).toBe('done');
  });

  it('gives a failed version another chance when a new assignment arrives', async () => {
    download = async () => {
      throw new UnavailableError('down');
    };
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    download = async (d) => join(dir, `${d.sha256}.tar.gz`);
    await converge(assignment(2, { web: release('web', '1.0.0') }));
    expect(runner.running.get('web')).toEqual({ version: '1.0.0' });
  });

  it('calls off a download in flight when a newer assignment wants another version', async () => {
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    let started!: () => void;
    const downloading = new Promise<void>((r) => (started = r));
    download = (d, signal) => {
      events.push(`download ${d.app}@${d.version}`);
      if (d.version !== '2.0.0') return Promise.resolve(join(dir, 'x.tar.gz'));
      started();
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true }),
      );
    };
    converger.submit(assignment(2, { web: release('web', '2.0.0') }), true);
    await downloading;
    converger.submit(assignment(3, { web: release('web', '3.0.0') }), true);
    await converger.idle();
    expect(releases.current.get('web')).toBe('3.0.0');
    expect(runner.running.get('web')).toEqual({ version: '3.0.0' });
    expect(events).not.toContain('activate web@2.0.0');
    expect(converger.progressOf('web')).toMatchObject({ phase: 'done', version: '3.0.0' });
  });

  it('ignores an assignment older than the one it converges on', async () => {
    await converge(assignment(5, { web: release('web', '1.0.0') }));
    events.length = 0;
    await converge(assignment(4, { web: release('web', '2.0.0') }));
    expect(events).toEqual([]);
    expect(converger.assignment?.seq).toBe(5);
  });

  it('stops an app that is no longer assigned and remembers it is not running', async () => {
    await converge(assignment(1, { web: release('web', '1.0.0'), api: release('api', '1.0.0') }));
    events.length = 0;
    await converge(assignment(2, { api: release('api', '1.0.0') }));
    expect(events).toEqual(['stop web@1.0.0']);
    expect(keeper.current.apps.web).toEqual({ activeVersion: '1.0.0', previousVersion: null, process: null });
  });

  it('starts the active version when nothing runs it', async () => {
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    await runner.stop('web');
    events.length = 0;
    converger.kick();
    await converger.idle();
    expect(events).toEqual(['launch web@1.0.0']);
  });

  it('leaves everything alone without an accepted assignment', async () => {
    runner.running.set('web', { version: '1.0.0' });
    converger.kick();
    await converger.idle();
    expect(events).toEqual([]);
  });

  it('retries a transient failure on its own timer, without any new assignment or kick', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let reachable = false;
      download = async (d) => {
        events.push(`download ${d.app}@${d.version}`);
        if (!reachable) throw new UnavailableError('controller unreachable');
        return join(dir, 'x.tar.gz');
      };
      await converge(assignment(1, { web: release('web', '1.0.0') }));
      expect(converger.nextRetryAtMs).toBe(clock + 5_000);
      reachable = true;
      clock += 5_000;
      await vi.advanceTimersByTimeAsync(5_000);
      await converger.idle();
      expect(events).toEqual(['download web@1.0.0', 'download web@1.0.0', 'unpack web@1.0.0', 'activate web@1.0.0', 'launch web@1.0.0', 'prune web protect=1.0.0']);
      expect(converger.progressOf('web')).toMatchObject({ phase: 'done', version: '1.0.0', error: null });
      expect(converger.nextRetryAtMs).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('backs off 5 s, 30 s, 2 min between transient failures', async () => {
    download = async () => {
      throw new UnavailableError('down');
    };
    const start = clock;
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    expect(converger.nextRetryAtMs).toBe(start + 5_000);
    clock = start + 5_000;
    converger.kick();
    await converger.idle();
    expect(converger.nextRetryAtMs).toBe(clock + 30_000);
    clock += 30_000;
    converger.kick();
    await converger.idle();
    expect(converger.nextRetryAtMs).toBe(clock + 120_000);
  });

  it('retries a failed install at once when the same assignment is asserted again', async () => {
    let reachable = false;
    download = async (d) => {
      events.push(`download ${d.app}@${d.version}`);
      if (!reachable) throw new UnavailableError('controller unreachable');
      return join(dir, 'x.tar.gz');
    };
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    reachable = true;
    converger.reassert();
    await converger.idle();
    expect(runner.running.get('web')).toEqual({ version: '1.0.0' });
  });

  it('records each finished step in state.json and forgets the record once the install is done', async () => {
    const seen: string[][] = [];
    const watcher = new Converger({
      logger,
      releaseKeys: [releaseKey.trusted],
      keepReleases: 5,
      appOverrides: {},
      releases,
      processes: runner,
      state: keeper,
      download: (d, signal) => download(d, signal),
      unpack: async (_t, d) => {
        await releases.put(d.app, d.version);
        return { manifestText: '' };
      },
      onProgress: () => undefined,
      afterStep: () => seen.push([...(keeper.current.apps.web?.install?.done ?? [])]),
      now: () => clock,
    });
    watcher.submit(assignment(1, { web: release('web', '1.0.0') }), true);
    await watcher.idle();
    await watcher.close();
    // Before each step's progress is saved, the record holds the steps before it.
    expect(seen[0]).toEqual([]);
    expect(seen[3]).toEqual(['verify-descriptor', 'download', 'unpack']);
    // Every step is recorded, also those skipped without a balancer (drain, health, shift, retire, undrain).
    expect(seen.length).toBe(17);
    expect(keeper.current.apps.web?.install).toBeUndefined();
  });

  it('resumes an install a crash cut short at the first unfinished step', async () => {
    // What a SIGKILL right after the link switch leaves: the new version current, nothing
    // running, and the steps through the switch recorded.
    await releases.put('web', '2.0.0');
    releases.current.set('web', '2.0.0');
    const done = ['verify-descriptor', 'download', 'unpack', 'app-access', 'read-manifest', 'pre-activate', 'stop-old', 'switch-current'];
    await keeper.update((s) => ({
      ...s,
      apps: {
        web: { activeVersion: '2.0.0', previousVersion: '1.0.0', process: null, install: { version: '2.0.0', sha256: sha('2.0.0'), done } },
      },
    }));
    await converge(assignment(2, { web: release('web', '2.0.0') }));
    expect(events).toEqual(['launch web@2.0.0', 'prune web protect=2.0.0,1.0.0']);
    expect(keeper.current.apps.web).toEqual({ activeVersion: '2.0.0', previousVersion: '1.0.0', process: { pid: 1000, startTime: 't-2.0.0' } });
    expect(converger.progressOf('web')).toMatchObject({ phase: 'done', version: '2.0.0' });
  });

  it('does not start a second process when the new one already runs (adopted after a crash before persist)', async () => {
    await releases.put('web', '2.0.0');
    runner.running.set('web', { version: '2.0.0' });
    const done = ['verify-descriptor', 'download', 'unpack', 'app-access', 'read-manifest', 'pre-activate', 'stop-old', 'switch-current'];
    await keeper.update((s) => ({
      ...s,
      apps: { web: { activeVersion: '2.0.0', previousVersion: '1.0.0', process: null, install: { version: '2.0.0', sha256: sha('2.0.0'), done } } },
    }));
    await converge(assignment(2, { web: release('web', '2.0.0') }));
    expect(events).toEqual(['prune web protect=2.0.0,1.0.0']);
    expect(keeper.current.apps.web?.process).toEqual({ pid: 1000, startTime: 't-2.0.0' });
  });

  it('undoes stop-old when the link switch fails: the previous version runs again', async () => {
    await converge(assignment(1, { web: release('web', '1.0.0') }));
    events.length = 0;
    activate = async (_app, version) => {
      if (version === '2.0.0') throw Object.assign(new Error('ENOSPC: no space left on device, symlink'), { code: 'ENOSPC' });
    };
    await converge(assignment(2, { web: release('web', '2.0.0') }));
    expect(events).toEqual(['download web@2.0.0', 'unpack web@2.0.0', 'stop web@1.0.0', 'launch web@1.0.0']);
    expect(runner.running.get('web')).toEqual({ version: '1.0.0' });
    expect(keeper.current.apps.web?.activeVersion).toBe('1.0.0');
    expect(keeper.current.apps.web?.process).toEqual({ pid: 1000, startTime: 't-1.0.0' });
    expect(keeper.current.apps.web?.install?.done).toEqual(['verify-descriptor', 'download', 'unpack', 'app-access', 'read-manifest', 'pre-activate']);
    expect(converger.progressOf('web')?.error).toContain('ENOSPC');
    // The disk has room again: the retry resumes after pre-activate (no download, no unpack).
    activate = undefined;
    events.length = 0;
    clock += 5_000;
    converger.kick();
    await converger.idle();
    expect(events).toEqual(['stop web@1.0.0', 'activate web@2.0.0', 'launch web@2.0.0', 'prune web protect=2.0.0,1.0.0']);
  });

  it('keeps converging after a pass throws', async () => {
    const broken = Object.assign(Object.create(Object.getPrototypeOf(runner)), runner, {
      apps: () => {
        throw new Error('boom');
      },
    }) as FakeRunner;
    const c = new Converger({
      logger,
      releaseKeys: [releaseKey.trusted],
      keepReleases: 5,
      appOverrides: {},
      releases,
      processes: broken,
      state: keeper,
      download: (d, signal) => download(d, signal),
      unpack: async (_t, d) => {
        await releases.put(d.app, d.version);
        return { manifestText: '' };
      },
      onProgress: () => undefined,
      now: () => clock,
    });
    c.submit(assignment(1, { web: release('web', '1.0.0') }), true);
    await c.idle();
    broken.apps = () => [];
    c.kick();
    await c.idle();
    await c.close();
    expect(events).toContain('launch web@1.0.0');
  });

  it('drains the old process before it stops and undrains the new one once it runs, on a host without weights', async () => {
    const c = new Converger({
      logger,
      releaseKeys: [releaseKey.trusted],
      keepReleases: 5,
      appOverrides: {},
      releases,
      processes: runner,
      state: keeper,
      traffic: {
        drainWaitMs: 1500,
        drain: async (app, t) => {
          events.push(`drain ${app} '${t.slot}' '${t.address}'`);
          return true;
        },
        undrain: async (app, t) => void events.push(`undrain ${app} '${t.slot}' '${t.address}'`),
      },
      sleep: async (ms) => void events.push(`wait ${ms}ms`),
      download: (d, signal) => download(d, signal),
      unpack: async (_t, d) => {
        await releases.put(d.app, d.version);
        return { manifestText: '' };
      },
      onProgress: () => undefined,
      now: () => clock,
    });
    c.submit(assignment(1, { web: release('web', '1.0.0') }), true);
    await c.idle();
    // A first install has nothing to drain.
    expect(events.filter((e) => /drain|wait/.test(e))).toEqual(["undrain web '' ''"]);
    events.length = 0;
    c.submit(assignment(2, { web: release('web', '2.0.0') }), true);
    await c.idle();
    await c.close();
    expect(events).toEqual([
      'download web@2.0.0',
      "drain web '' ''",
      'wait 1500ms',
      'stop web@1.0.0',
      'activate web@2.0.0',
      'launch web@2.0.0',
      "undrain web '' ''",
      'prune web protect=2.0.0,1.0.0',
    ]);
  });

  it('names the slot and its address to the hooks for an app with slots on a host without weights', async () => {
    releases.manifestExtra = { traffic: { slots: [{ port: 8081 }, { port: 8082 }] } };
    const c = new Converger({
      logger,
      releaseKeys: [releaseKey.trusted],
      keepReleases: 5,
      appOverrides: {},
      releases,
      processes: runner,
      state: keeper,
      traffic: {
        drainWaitMs: 0,
        drain: async (app, t) => {
          events.push(`drain ${app} ${t.slot} ${t.address}`);
          return true;
        },
        undrain: async (app, t) => void events.push(`undrain ${app} ${t.slot} ${t.address}`),
      },
      sleep: async () => undefined,
      download: (d, signal) => download(d, signal),
      unpack: async (_t, d) => {
        await releases.put(d.app, d.version);
        return { manifestText: '' };
      },
      onProgress: () => undefined,
      now: () => clock,
    });
    for (const a of [assignment(1, { web: release('web', '1.0.0') }), assignment(2, { web: release('web', '2.0.0') })]) {
      c.submit(a, true);
      await c.idle();
    }
    await c.close();
    expect(events.filter((e) => e.includes('drain'))).toEqual([
      'undrain web a 127.0.0.1:8081',
      'drain web a 127.0.0.1:8081',
      'undrain web a 127.0.0.1:8081',
    ]);
  });

  it('runs a release with slots beside the old one, shifts by weight, and reverts by weight with no restart', async () => {
    releases.manifestExtra = { traffic: { slots: [{ port: 8081 }, { port: 8082 }] } };
    const beside = new FakeBesideRunner(events);
    const fmt = (ws: readonly SlotWeight[] | null) => (ws ?? []).map((w) => `${w.slot}:${w.weight}`).join(',');
    const c = new Converger({
      logger,
      releaseKeys: [releaseKey.trusted],
      keepReleases: 5,
      appOverrides: {},
      releases,
      processes: beside,
      state: keeper,
      traffic: {
        weighted: true,
        drainWaitMs: 700,
        shift: async (app, from, to) => void events.push(`shift ${app} ${fmt(from)} -> ${fmt(to)}`),
        drain: async () => {
          events.push('drain');
          return true;
        },
        undrain: async () => void events.push('undrain'),
      },
      sleep: async (ms) => void events.push(`wait ${ms}ms`),
      download: (d, signal) => download(d, signal),
      unpack: async (_t, d) => {
        await releases.put(d.app, d.version);
        return { manifestText: '' };
      },
      onProgress: () => undefined,
      now: () => clock,
    });
    const step = async (a: Assignment): Promise<void> => {
      events.length = 0;
      c.submit(a, true);
      await c.idle();
    };
    await step(assignment(1, { web: release('web', '1.0.0') }));
    expect(events.filter((e) => !e.startsWith('download') && !e.startsWith('unpack') && !e.startsWith('prune'))).toEqual([
      'activate web@1.0.0',
      'launch web@1.0.0 in a',
      'shift web a:0,b:100 -> a:100,b:0',
    ]);

    await step(assignment(2, { web: { ...release('web', '2.0.0'), traffic: { weight: 10 } } }));
    expect(events.filter((e) => !e.startsWith('download') && !e.startsWith('unpack') && !e.startsWith('prune'))).toEqual([
      'keep web@1.0.0 beside',
      'activate web@2.0.0',
      'launch web@2.0.0 in b',
      'shift web a:100,b:0 -> a:90,b:10',
    ]);
    expect(keeper.current.apps.web?.traffic).toEqual({ activeSlot: 'b', weight: 10, beside: { version: '1.0.0', process: { pid: 999, startTime: 't-1.0.0' } } });

    await step(assignment(3, { web: { ...release('web', '2.0.0'), traffic: { weight: 50 } } }));
    expect(events).toEqual(['shift web a:90,b:10 -> a:50,b:50']);

    // The gate tripped: back to the stable version, which still runs beside.
    await step(assignment(4, { web: release('web', '1.0.0') }));
    expect(events).toEqual(['shift web a:50,b:50 -> a:100,b:0', 'swap web', 'activate web@1.0.0', 'wait 700ms', 'stop beside web@2.0.0']);
    expect(keeper.current.apps.web).toMatchObject({ activeVersion: '1.0.0', previousVersion: '2.0.0', traffic: { activeSlot: 'a', weight: 100, beside: null } });
    expect(beside.running.get('web')?.version).toBe('1.0.0');
    await c.close();
  });

  it('retires the old release only at 100% when the assignment says so', async () => {
    releases.manifestExtra = { traffic: { slots: [{ port: 8081 }, { port: 8082 }] } };
    const beside = new FakeBesideRunner(events);
    const c = new Converger({
      logger,
      releaseKeys: [releaseKey.trusted],
      keepReleases: 5,
      appOverrides: {},
      releases,
      processes: beside,
      state: keeper,
      traffic: { weighted: true, drainWaitMs: 0, shift: async () => undefined, drain: async () => true, undrain: async () => undefined },
      sleep: async () => undefined,
      download: (d, signal) => download(d, signal),
      unpack: async (_t, d) => {
        await releases.put(d.app, d.version);
        return { manifestText: '' };
      },
      onProgress: () => undefined,
      now: () => clock,
    });
    for (const a of [
      assignment(1, { web: release('web', '1.0.0') }),
      assignment(2, { web: { ...release('web', '2.0.0'), traffic: { weight: 100 } } }),
    ]) {
      c.submit(a, true);
      await c.idle();
    }
    expect(beside.beside('web')?.version).toBe('1.0.0');
    c.submit(assignment(3, { web: { ...release('web', '2.0.0'), traffic: { weight: 100, retire: true } } }), true);
    await c.idle();
    await c.close();
    expect(beside.beside('web')).toBeUndefined();
    expect(events).toContain('stop beside web@1.0.0');
    expect(keeper.current.apps.web?.traffic).toEqual({ activeSlot: 'b', weight: 100, beside: null });
  });

  it('does not start a download the disk has no room for: a transient failure naming the sizes, retried once there is room', async () => {
    let free = 600 * 1024 ** 2;
    const c = new Converger({
      logger,
      releaseKeys: [releaseKey.trusted],
      keepReleases: 5,
      appOverrides: {},
      releases,
      processes: runner,
      state: keeper,
      checkRoom: (d) =>
        ensureRoomForDownload({
          dir: '/data/cache',
          needBytes: d.size,
          floor: { bytes: 512 * 1024 ** 2 },
          read: async () => ({ freeBytes: free, totalBytes: 10 * 1024 ** 3 }),
        }),
      download: (d, signal) => download(d, signal),
      unpack: async (_t, d) => {
        await releases.put(d.app, d.version);
        return { manifestText: '' };
      },
      onProgress: () => undefined,
      now: () => clock,
    });
    try {
      // The release is 100 bytes: with exactly the floor free it does not fit.
      free = 512 * 1024 ** 2;
      c.submit(assignment(1, { web: release('web', '1.0.0') }), true);
      await c.idle();
      expect(events).toEqual([]);
      expect(c.progressOf('web')).toMatchObject({
        phase: 'downloading',
        error:
          `attempt 1 failed; retrying at ${new Date(clock + 5_000).toISOString()}: not enough free space in /data/cache: ` +
          '100 B needed plus a floor of 512 MiB kept free, but only 512 MiB is free (free 100 B more)',
      });
      free = 600 * 1024 ** 2;
      clock += 5_000;
      c.kick();
      await c.idle();
      expect(events).toContain('download web@1.0.0');
      expect(c.progressOf('web')?.phase).toBe('done');
    } finally {
      await c.close();
    }
  });

});

class FakeBesideRunner extends FakeRunner implements BesideRunner {
  readonly besides = new Map<string, { version: string }>();
  override async launch(r: { app: string; version: string }, slot?: string): Promise<unknown> {
    this.events.push(`launch ${r.app}@${r.version} in ${slot}`);
    this.running.set(r.app, { version: r.version });
    return {};
  }
  beside(app: string) {
    return this.besides.get(app);
  }
  besideIdentity(app: string) {
    return this.besides.has(app) ? { pid: 999, startTime: `t-${this.besides.get(app)?.version}` } : null;
  }
  async keepBeside(app: string): Promise<void> {
    const r = this.running.get(app);
    if (!r) return;
    this.events.push(`keep ${app}@${r.version} beside`);
    this.running.delete(app);
    this.besides.set(app, r);
  }
  swap(app: string): void {
    this.events.push(`swap ${app}`);
    const a = this.running.get(app);
    const b = this.besides.get(app);
    if (b) this.running.set(app, b);
    if (a) this.besides.set(app, a);
  }
  async stopBeside(app: string): Promise<void> {
    if (!this.besides.has(app)) return;
    this.events.push(`stop beside ${app}@${this.besides.get(app)?.version}`);
    this.besides.delete(app);
  }
  health(): string | null {
    return 'healthy';
  }
}
