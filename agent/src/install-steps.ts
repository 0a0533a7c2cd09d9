import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  IntegrityError,
  MANIFEST_FILE,
  ManifestError,
  errorMessage,
  formatDuration,
  parseManifest,
  verifyDescriptor,
  type AppAssignment,
  type Descriptor,
  type HookSpec,
  type InstallPhase,
  type Logger,
  type Manifest,
  type TrustedKey,
} from '@flotilla/shared';
import { checkStartable, releaseEnv, runCommand, type AppUser, type SupervisedRelease } from './process/index.js';
import { protectedVersions } from './plan.js';
import { appEnvironment, type AppRunner, type BesideRunner } from './processes.js';
import { HookFailedError } from './retry.js';
import type { AppHostSettings } from './config.js';
import type { StateKeeper } from './state.js';
import type { Step } from './steps.js';
import { otherSlot, slotAddress, slotSpec, splitWeights, withHostSlots, type HookTarget, type SlotName, type TrafficShifter } from './traffic/index.js';

/** The on-host release layout an install needs (ReleaseStore provides it). */
export interface ReleaseLayout {
  releasesDir(app: string): string;
  releaseDir(app: string, version: string): string;
  logDir(app: string): string;
  hasRelease(app: string, version: string, sha256: string): Promise<boolean>;
  activate(app: string, version: string): Promise<unknown>;
  /** Lets the app's user, and no other, read the app's releases. @default nothing changes */
  grantAppAccess?(app: string, user: AppUser | undefined): Promise<void>;
  /** Removes an unpacked release that is not current (no-op when absent). */
  removeRelease(app: string, version: string): Promise<void>;
  prune(app: string, opts: { keep: number; protect: readonly string[] }): Promise<unknown>;
}

/** What the install steps touch: keys, the release layout, the processes, the state. */
export interface InstallDeps {
  /** Release signers' keys: a descriptor must verify against one of them. */
  releaseKeys: readonly TrustedKey[];
  /** The release keys in force now, revocations applied (default: `releaseKeys`). */
  releaseKeysInForce?: () => readonly TrustedKey[];
  keepReleases: number;
  /** Per-app environment overrides (they also reach the hooks). */
  appOverrides: Readonly<Record<string, Pick<AppHostSettings, 'env' | 'traffic'>>>;
  releases: ReleaseLayout;
  processes: AppRunner;
  /** The user an app's processes (hooks included) run as; undefined: the agent's own. */
  userOf?: (app: string) => AppUser | undefined;
  state: Pick<StateKeeper, 'current' | 'updateApp'>;
  /**
   * Refuses a download the disk has no room for (a transient failure naming the sizes); see
   * install/disk-space.ts. @default no check
   */
  checkRoom?: (descriptor: Descriptor) => Promise<void>;
  /** How long a new release in its slot gets to turn healthy before traffic moves. @default from its health check */
  healthyWithinMs?: (manifest: Manifest) => number;
  /** Fetches the artifact a verified descriptor names into the cache; resolves with its verified path. */
  download(descriptor: Descriptor, signal: AbortSignal): Promise<string>;
  /** Unpacks a verified tarball into releases/<version>; resolves with its manifest's text. */
  unpack(tarball: string, descriptor: Descriptor, signal: AbortSignal): Promise<{ manifestText: string }>;
  /**
   * The host's balancer: drained before the old process stops and undrained once the new one runs;
   * where it holds two slots with weights, an app that declares slots runs beside. @default none
   */
  traffic?: Pick<TrafficShifter, 'drain' | 'undrain' | 'drainWaitMs'> & Partial<Pick<TrafficShifter, 'weighted' | 'shift'>>;
  /** Waits out the drain (tests pass a fake). @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** Refuses a release whose start command cannot run, before the old process stops. @default checkStartable */
  checkStartable?: (release: SupervisedRelease) => Promise<void>;
}

/** One install step: a runner step that also says which phase heartbeats report while it runs. */
export interface InstallStep extends Step<InstallContext> {
  /** Reported while the step runs; absent: the phase stays as it was. */
  readonly phase?: InstallPhase;
  /** From this step on the install runs to its end: a newer assignment no longer calls it off. */
  readonly runsToEnd?: true;
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const abortError = (): Error => Object.assign(new Error('install called off'), { name: 'AbortError' });

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError();
}

/** The last non-empty line of a command's output, trimmed for a status report. */
function lastLine(text: string): string {
  const line = text.trim().split('\n').pop()?.trim() ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** Where the new release of a run-beside activation goes. */
export interface BesidePlan {
  /** The slot the new release starts in (the free one). */
  readonly slot: SlotName;
  readonly runner: BesideRunner;
  readonly shift: TrafficShifter['shift'];
}

function isBesideRunner(p: AppRunner): p is BesideRunner {
  return typeof (p as Partial<BesideRunner>).keepBeside === 'function';
}

/** A release as the supervisor and the hooks see it (without the environment). */
export type ReleaseInfo = Omit<SupervisedRelease, 'env'>;

/**
 * One attempt at installing one version of one app. What the steps derive (the verified
 * descriptor, the tarball, the manifest) is worked out on first use and kept for this attempt,
 * so a step that a resumed attempt skips is never needed for what the later steps use.
 */
export class InstallContext {
  /** The postStart hook's failure, reported with the finished install; the app keeps running. */
  postStartError: string | null = null;
  #descriptor: Descriptor | undefined;
  #onDisk: Promise<boolean> | undefined;
  #tarball: Promise<string> | undefined;
  #manifest: Promise<Manifest> | undefined;

  constructor(
    readonly app: string,
    readonly want: AppAssignment,
    /** The version active when the install began. */
    readonly previous: string | null,
    readonly signal: AbortSignal,
    readonly log: Logger,
    readonly deps: InstallDeps,
  ) {}

  get version(): string {
    return this.want.version;
  }

  #beside: Promise<BesidePlan | null> | undefined;

  /**
   * The plan for running this release beside the old one, or null for stop-then-start: beside
   * needs slots in both manifests, a balancer with weights, and a runner that holds two processes.
   * Fixed for the attempt at its first use (before anything moved), then read from state.json.
   */
  beside(): Promise<BesidePlan | null> {
    this.#beside ??= this.planBeside();
    return this.#beside;
  }

  private async planBeside(): Promise<BesidePlan | null> {
    const { traffic, processes } = this.deps;
    const manifest = await this.manifest();
    if (manifest.traffic === undefined || !traffic?.weighted || traffic.shift === undefined || !isBesideRunner(processes)) return null;
    const saved = this.deps.state.current.apps[this.app]?.traffic;
    // Resumed after the switch: the saved slots say where things are.
    if (saved !== undefined && this.deps.state.current.apps[this.app]?.activeVersion === this.version) {
      return { slot: saved.activeSlot, runner: processes, shift: traffic.shift.bind(traffic) };
    }
    const oldSlot: SlotName = saved?.activeSlot ?? 'a';
    const oldRuns = this.previous !== null && processes.get(this.app) !== undefined;
    if (oldRuns && (await readReleaseManifest(this.deps, this.app, this.previous as string)).traffic === undefined) {
      // The running release listens on its own port, not in a slot: nothing to shift from.
      return null;
    }
    return { slot: oldRuns ? otherSlot(oldSlot) : oldSlot, runner: processes, shift: traffic.shift.bind(traffic) };
  }

  /** The release key vouches for these bytes being this app at this version. */
  descriptor(): Descriptor {
    this.#descriptor ??= verifyDescriptor(this.want.release, this.deps.releaseKeysInForce?.() ?? this.deps.releaseKeys, { app: this.app, version: this.version });
    return this.#descriptor;
  }

  /** The release is unpacked with a marker naming these very bytes. */
  onDisk(): Promise<boolean> {
    this.#onDisk ??= this.deps.releases.hasRelease(this.app, this.version, this.descriptor().sha256);
    return this.#onDisk;
  }

  /** The verified tarball in the cache (downloaded when it is not there). */
  tarball(): Promise<string> {
    this.#tarball ??= this.fetch();
    return this.#tarball;
  }

  manifest(): Promise<Manifest> {
    this.#manifest ??= readReleaseManifest(this.deps, this.app, this.version);
    return this.#manifest;
  }

  async release(): Promise<ReleaseInfo> {
    return releaseInfo(this.deps.releases, this.app, this.version, await this.manifest());
  }

  /** Downloads, and downloads once more from scratch when the bytes do not match. */
  private async fetch(): Promise<string> {
    const descriptor = this.descriptor();
    try {
      return await this.deps.download(descriptor, this.signal);
    } catch (err) {
      if (!(err instanceof IntegrityError) || this.signal.aborted) throw err;
      // A resumed download may have been spoiled by its first half; a second full download tells
      // a bad transfer from bad bytes at the source.
      this.log.warn({ err }, 'downloaded artifact does not match its descriptor; downloading it again in full');
      return await this.deps.download(descriptor, this.signal);
    }
  }
}

/**
 * A release's manifest as this host runs it: read from the release, with the slots the host's
 * config names for the app in place of the manifest's own.
 */
export async function readReleaseManifest(
  deps: { readonly releases: Pick<ReleaseLayout, 'releaseDir'>; readonly appOverrides: InstallDeps['appOverrides'] },
  app: string,
  version: string,
): Promise<Manifest> {
  const path = join(deps.releases.releaseDir(app, version), MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ManifestError(`cannot read ${MANIFEST_FILE} of ${app}@${version}: ${errorMessage(err)}`, { cause: err });
  }
  return withHostSlots(parseManifest(text, { app, version }), deps.appOverrides[app]?.traffic?.slots);
}

export function releaseInfo(releases: ReleaseLayout, app: string, version: string, manifest: Manifest): ReleaseInfo {
  return { app, version, releaseDir: releases.releaseDir(app, version), manifest, logDir: releases.logDir(app) };
}

/** Runs one of the release's hooks in its release directory; throws HookFailedError when it fails. */
export async function runHook(
  deps: Pick<InstallDeps, 'appOverrides' | 'userOf'>,
  name: 'preActivate' | 'postStart',
  hook: HookSpec | undefined,
  release: ReleaseInfo,
  signal: AbortSignal | undefined,
  log: Logger,
): Promise<void> {
  if (hook === undefined) return;
  const user = deps.userOf?.(release.app);
  const env = releaseEnv({ ...release, env: appEnvironment(release.manifest, deps.appOverrides[release.app]?.env), ...(user ? { user } : {}) });
  log.info({ hook: name }, 'running hook');
  const r = await runCommand(hook.command, {
    cwd: release.releaseDir,
    env,
    timeoutMs: hook.timeout,
    logFile: join(release.logDir, `${release.app}.log`),
    ...(signal ? { signal } : {}),
    ...(user ? { user } : {}),
  });
  if (r.ok) return;
  if (signal?.aborted) throw abortError();
  const how = r.timedOut
    ? `timed out after ${formatDuration(hook.timeout)}`
    : r.code !== null
      ? `exited with code ${r.code}`
      : r.signal !== null
        ? `was killed by ${r.signal}`
        : 'could not run';
  const tail = lastLine(r.outputTail);
  throw new HookFailedError(`${name} hook of ${release.app}@${release.version} ${how}${tail ? `: ${tail}` : ''}`, {
    details: { hook: name, code: r.code, signal: r.signal, timedOut: r.timedOut },
  });
}

/** Starts `version` of the app again (the undo of stopping it) and saves its process identity. */
async function restartVersion(c: InstallContext, version: string): Promise<void> {
  const { processes, releases, state } = c.deps;
  const manifest = await readReleaseManifest(c.deps, c.app, version);
  await processes.launch(releaseInfo(releases, c.app, version, manifest));
  await state.updateApp(c.app, (a) => ({ ...a, process: processes.identity(c.app) }));
  c.log.warn({ previous: version }, 'activation failed after the old process stopped; restarted the old version');
}

/** How long a release may take to turn healthy: its start period and enough probes to pass, twice over. */
function healthyWithinMs(manifest: Manifest): number {
  const h = manifest.health;
  if (h === undefined) return 0;
  return 2 * (h.startPeriod + (h.failureThreshold + h.successThreshold + 1) * (h.interval + h.timeout)) + 10_000;
}

/** At full weight with nothing asked otherwise, the release beside has served its purpose. */
export function wantsRetire(want: AppAssignment): boolean {
  return want.traffic === undefined || (want.traffic.weight === 100 && want.traffic.retire === true);
}

/**
 * Moves `weight` percent of the app's traffic to its active slot, from what state.json says was
 * applied, and records the new weight once the balancer took it.
 */
export async function shiftTo(
  deps: Pick<InstallDeps, 'state'>,
  app: string,
  manifest: Manifest,
  shift: TrafficShifter['shift'],
  weight: number,
): Promise<void> {
  const saved = deps.state.current.apps[app]?.traffic;
  if (manifest.traffic === undefined || saved === undefined) return;
  const from = splitWeights(manifest.traffic, saved.activeSlot, saved.weight);
  // With nothing beside, the other slot has no process: it stays down whatever the assignment says.
  const target = saved.beside === null ? 100 : weight;
  await shift(app, from, splitWeights(manifest.traffic, saved.activeSlot, target));
  await deps.state.updateApp(app, (a) => (a.traffic ? { ...a, traffic: { ...a.traffic, weight: target } } : a));
}

/** Stops the release beside the active one once no traffic reaches it and its requests had time to end. */
export async function retireBeside(
  deps: Pick<InstallDeps, 'state' | 'traffic'>,
  app: string,
  runner: BesideRunner,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const saved = deps.state.current.apps[app]?.traffic;
  if (saved === undefined || saved.beside === null || saved.weight !== 100) return;
  if (runner.beside(app) !== undefined) {
    await sleep(deps.traffic?.drainWaitMs ?? 0);
    await runner.stopBeside(app);
  }
  await deps.state.updateApp(app, (a) => (a.traffic ? { ...a, traffic: { ...a.traffic, beside: null } } : a));
}

/**
 * Who the drain and undrain hooks are about: an app that declares slots runs, on a host that stops
 * before it starts, in the slot the balancer last pointed at (its first at the start); any other
 * app has no address the agent knows.
 */
function hookTarget(c: InstallContext, manifest: Manifest): HookTarget {
  if (manifest.traffic === undefined) return { slot: '', address: '', weight: 100 };
  const slot = c.deps.state.current.apps[c.app]?.traffic?.activeSlot ?? 'a';
  return { slot, address: slotAddress(slotSpec(manifest.traffic, slot)), weight: 100 };
}

/**
 * The steps of an install, in order. Adding a step is adding an entry here (and a row to the
 * table in docs/agent.md). Through `pre-activate` nothing that runs is touched and a newer
 * assignment may call the install off; from `stop-old` on it runs to its end.
 */
export const INSTALL_STEPS: readonly InstallStep[] = [
  {
    name: 'verify-descriptor',
    phase: 'verifying',
    run: async (c) => {
      c.descriptor();
    },
  },
  {
    name: 'download',
    phase: 'downloading',
    skip: async (c) => {
      const onDisk = await c.onDisk();
      if (onDisk) c.log.info({ sha256: c.descriptor().sha256 }, 'release already on disk; activating it without a download');
      return onDisk;
    },
    run: async (c) => {
      const d = c.descriptor();
      await c.deps.checkRoom?.(d);
      c.log.info({ sha256: d.sha256, size: d.size }, 'downloading release');
      await c.tarball();
      throwIfAborted(c.signal);
    },
  },
  {
    name: 'unpack',
    phase: 'unpacking',
    skip: (c) => c.onDisk(),
    run: async (c) => {
      const tarball = await c.tarball();
      // A directory for this version without a matching marker was not made from these bytes
      // (or not finished); it makes way for the verified release.
      await c.deps.releases.removeRelease(c.app, c.version);
      await c.deps.unpack(tarball, c.descriptor(), c.signal);
    },
  },
  {
    // Before any of the app's code runs (hooks, the app): its user may read its releases only.
    name: 'app-access',
    run: async (c) => {
      await c.deps.releases.grantAppAccess?.(c.app, c.deps.userOf?.(c.app));
    },
  },
  {
    name: 'read-manifest',
    run: async (c) => {
      const release = await c.release();
      throwIfAborted(c.signal);
      await (c.deps.checkStartable ?? checkStartable)({
        ...release,
        env: appEnvironment(release.manifest, c.deps.appOverrides[c.app]?.env),
      });
    },
  },
  {
    name: 'pre-activate',
    phase: 'activating',
    run: async (c) => {
      const release = await c.release();
      await runHook(c.deps, 'preActivate', release.manifest.hooks.preActivate, release, c.signal, c.log);
      throwIfAborted(c.signal);
    },
  },
  {
    name: 'drain-old',
    phase: 'activating',
    runsToEnd: true,
    // Nothing runs to drain: a first install, or an agent that died after the stop.
    skip: async (c) =>
      c.deps.traffic === undefined || c.previous === null || c.deps.processes.get(c.app) === undefined || (await c.beside()) !== null,
    run: async (c) => {
      const traffic = c.deps.traffic as NonNullable<InstallDeps['traffic']>;
      const manifest = await readReleaseManifest(c.deps, c.app, c.previous as string);
      // Requests the balancer sent before the drain still finish on the old process; with no
      // balancer told anything, the app's own stop signal handling is all there is.
      if (await traffic.drain(c.app, hookTarget(c, manifest))) await (c.deps.sleep ?? delay)(traffic.drainWaitMs);
    },
    undo: async (c) => {
      if (c.deps.traffic === undefined || c.previous === null) return;
      await c.deps.traffic.undrain(c.app, hookTarget(c, await readReleaseManifest(c.deps, c.app, c.previous)));
    },
  },
  {
    name: 'stop-old',
    phase: 'activating',
    runsToEnd: true,
    run: async (c) => {
      const beside = await c.beside();
      if (beside !== null) {
        // The old process keeps serving, supervised, until the rollout retires it.
        await beside.runner.keepBeside(c.app);
        const kept = beside.runner.beside(c.app);
        await c.deps.state.updateApp(c.app, (a) => ({
          ...a,
          process: null,
          traffic: {
            activeSlot: a.traffic?.activeSlot ?? otherSlot(beside.slot),
            weight: a.traffic?.weight ?? 100,
            beside: kept ? { version: kept.version, process: beside.runner.besideIdentity(c.app) } : null,
          },
        }));
        return;
      }
      await c.deps.processes.stop(c.app);
      // Nothing is meant to run now: a restarted agent must not start the old version again.
      await c.deps.state.updateApp(c.app, (a) => (a.process === null ? a : { ...a, process: null }));
    },
    undo: async (c) => {
      const beside = await c.beside();
      if (beside !== null) {
        if (c.deps.processes.get(c.app) === undefined) beside.runner.swap(c.app);
        await c.deps.state.updateApp(c.app, (a) => ({ ...a, process: c.deps.processes.identity(c.app), traffic: a.traffic ? { ...a.traffic, beside: null } : undefined }));
        return;
      }
      if (c.previous !== null && c.deps.processes.get(c.app) === undefined) await restartVersion(c, c.previous);
    },
  },
  {
    name: 'switch-current',
    phase: 'activating',
    commits: true,
    run: async (c) => {
      await c.deps.releases.activate(c.app, c.version);
      const beside = await c.beside();
      // The intent before the spawn: this version is meant to run and no process of it is known
      // yet; a restarted agent looks for one by its marker before it starts another. Beside, the
      // new slot has no traffic yet: the weight is the active slot's.
      await c.deps.state.updateApp(c.app, (a) => ({
        ...a,
        activeVersion: c.version,
        previousVersion: c.previous !== null && c.previous !== c.version ? c.previous : a.previousVersion,
        process: null,
        ...(beside !== null && a.traffic?.activeSlot !== beside.slot
          ? { traffic: { activeSlot: beside.slot, weight: a.traffic?.beside ? 100 - a.traffic.weight : 0, beside: a.traffic?.beside ?? null } }
          : {}),
      }));
    },
  },
  {
    name: 'start-new',
    phase: 'activating',
    // Already running this version: the agent died after the spawn and adopted it on its return.
    skip: async (c) => c.deps.processes.get(c.app)?.version === c.version,
    run: async (c) => {
      // Stop-then-start keeps an app with slots in the slot the balancer last pointed at.
      const slot = (await c.beside())?.slot ?? c.deps.state.current.apps[c.app]?.traffic?.activeSlot;
      await c.deps.processes.launch(await c.release(), ...(slot !== undefined ? [slot] : []));
    },
  },
  {
    name: 'persist',
    phase: 'activating',
    run: async (c) => {
      await c.deps.state.updateApp(c.app, (a) => ({ ...a, process: c.deps.processes.identity(c.app) }));
      c.log.info({ previous: c.previous }, 'release activated');
    },
  },
  {
    name: 'await-healthy',
    phase: 'activating',
    // Traffic moves to a release only once its health check passes in its slot.
    skip: async (c) => (await c.beside()) === null || (await c.manifest()).health === undefined,
    run: async (c) => {
      const manifest = await c.manifest();
      const limitMs = (c.deps.healthyWithinMs ?? healthyWithinMs)(manifest);
      const sleep = c.deps.sleep ?? delay;
      const started = Date.now();
      // Bounded by time: the health check's own schedule decides how long is fair.
      for (;;) {
        const health = (await c.beside())?.runner.health(c.app);
        if (health === 'healthy') return;
        if (Date.now() - started > limitMs) {
          throw new HookFailedError(`${c.app}@${c.version} did not turn healthy in its slot within ${formatDuration(limitMs)}; traffic stays where it was`);
        }
        await sleep(100);
      }
    },
  },
  {
    name: 'shift-traffic',
    phase: 'activating',
    skip: async (c) => (await c.beside()) === null,
    run: async (c) => {
      const beside = (await c.beside()) as BesidePlan;
      await shiftTo(c.deps, c.app, await c.manifest(), beside.shift, c.want.traffic?.weight ?? 100);
    },
  },
  {
    name: 'retire-old',
    phase: 'activating',
    skip: async (c) => (await c.beside()) === null || !wantsRetire(c.want),
    run: async (c) => {
      await retireBeside(c.deps, c.app, ((await c.beside()) as BesidePlan).runner, c.deps.sleep ?? delay);
    },
  },
  {
    name: 'undrain-new',
    phase: 'activating',
    skip: async (c) => c.deps.traffic === undefined || (await c.beside()) !== null,
    run: async (c) => {
      await (c.deps.traffic as NonNullable<InstallDeps['traffic']>).undrain(c.app, hookTarget(c, await c.manifest()));
    },
  },
  {
    name: 'post-start',
    phase: 'activating',
    run: async (c) => {
      const release = await c.release();
      try {
        await runHook(c.deps, 'postStart', release.manifest.hooks.postStart, release, undefined, c.log);
      } catch (err) {
        c.postStartError = errorMessage(err);
        c.log.warn({ err }, 'postStart hook failed; the app keeps running');
      }
    },
  },
  {
    name: 'prune',
    run: async (c) => {
      const protect = protectedVersions(c.version, c.deps.state.current.apps[c.app]?.previousVersion, c.want.stableVersion);
      try {
        await c.deps.releases.prune(c.app, { keep: c.deps.keepReleases, protect });
      } catch (err) {
        c.log.warn({ err }, 'pruning old releases failed');
      }
    },
  },
];
