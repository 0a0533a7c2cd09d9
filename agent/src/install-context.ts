import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  IntegrityError,
  MANIFEST_FILE,
  ManifestError,
  errorMessage,
  parseManifest,
  verifyDescriptor,
  type AppAssignment,
  type Descriptor,
  type InstallPhase,
  type Logger,
  type Manifest,
  type TrustedKey,
} from '@flotilla/shared';
import type { AppHostSettings } from './config.js';
import type { AppUser, SupervisedRelease } from './process/index.js';
import type { AppRunner, BesideRunner } from './processes.js';
import type { StateKeeper } from './state.js';
import type { Step } from './steps.js';
import { otherSlot, withHostSlots, type SlotName, type TrafficShifter } from './traffic/index.js';

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

export const abortError = (): Error => Object.assign(new Error('install called off'), { name: 'AbortError' });

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
