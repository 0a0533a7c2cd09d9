import type { Logger, Manifest } from '@flotilla/shared';
import {
  AppSupervisor,
  findMarkedProcesses,
  type AppUser,
  type MarkedProcess,
  type ProcessIdentity,
  type ProcessSnapshot,
  type SupervisedRelease,
} from './process/index.js';
import { slotEnv, type SlotName } from './traffic/index.js';

/** What one supervised app runs: its release and the environment it was started with. */
export interface RunningRelease {
  readonly app: string;
  readonly version: string;
  readonly supervisor: AppSupervisor;
  /** The slot it listens in, for an app served from two slots. */
  readonly slot?: SlotName;
}

export interface AppProcessesDeps {
  logger: Logger;
  /** Per-app environment overrides from the agent's config; they win over the manifest's env. */
  envOverrides: Readonly<Record<string, { readonly env: Readonly<Record<string, string>> }>>;
  /** Any supervised app's snapshot changed. */
  onChange(app: string, snapshot: ProcessSnapshot, identity: ProcessIdentity | null): void;
  /**
   * The mark each app's process carries (unique per agent and app on this machine), so that a
   * restarted agent finds it even when its pid was never saved. Without it nothing is marked.
   */
  markOf?(app: string): string;
  /** The user each app runs as; undefined: the agent's own. */
  userOf?(app: string): AppUser | undefined;
  /** Overrides for the supervisors (tests shorten their timers). */
  supervisorOptions?: { settleMs?: number; adoptPollMs?: number };
}

/** What convergence needs of the supervised apps (AppProcesses; a fake in unit tests). */
export interface AppRunner {
  get(app: string): { readonly version: string } | undefined;
  apps(): string[];
  identity(app: string): ProcessIdentity | null;
  launch(release: Omit<SupervisedRelease, 'env'>, slot?: SlotName): Promise<unknown>;
  stop(app: string): Promise<void>;
}

/** What running two releases of one app side by side needs (AppProcesses; a fake in unit tests). */
export interface BesideRunner extends AppRunner {
  /** The release kept running beside the active one, if any. */
  beside(app: string): { readonly version: string; readonly slot?: SlotName } | undefined;
  besideIdentity(app: string): ProcessIdentity | null;
  /** The active process keeps running, supervised, as the one beside; nothing is active until the next launch. */
  keepBeside(app: string): Promise<void>;
  /** The one beside becomes active and the active one goes beside (a revert that restarts nothing). */
  swap(app: string): void;
  stopBeside(app: string): Promise<void>;
  /** Health of the active process, as its supervisor last judged it. */
  health(app: string): string | null;
}

/** The manifest's start.env with the agent's per-app overrides on top. */
export function appEnvironment(
  manifest: Manifest,
  overrides: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  return { ...manifest.start.env, ...(overrides ?? {}) };
}

/**
 * The supervisors of the apps on this host, one per app, each holding the active release's
 * process. Convergence swaps them on activation; the agent detaches them all when it stops, so
 * that the apps outlive it.
 */
export class AppProcesses implements BesideRunner {
  private readonly running = new Map<string, RunningRelease>();
  /** The older release still serving beside the active one during a traffic shift. */
  private readonly besides = new Map<string, RunningRelease>();

  constructor(private readonly deps: AppProcessesDeps) {}

  get(app: string): RunningRelease | undefined {
    return this.running.get(app);
  }

  apps(): string[] {
    return [...this.running.keys()];
  }

  snapshot(app: string): ProcessSnapshot | null {
    return this.running.get(app)?.supervisor.snapshot() ?? null;
  }

  identity(app: string): ProcessIdentity | null {
    return this.running.get(app)?.supervisor.identity() ?? null;
  }

  beside(app: string): RunningRelease | undefined {
    return this.besides.get(app);
  }

  besideIdentity(app: string): ProcessIdentity | null {
    return this.besides.get(app)?.supervisor.identity() ?? null;
  }

  health(app: string): string | null {
    return this.running.get(app)?.supervisor.snapshot().health ?? null;
  }

  async keepBeside(app: string): Promise<void> {
    const entry = this.running.get(app);
    if (entry === undefined) return;
    await this.stopBeside(app);
    this.running.delete(app);
    this.besides.set(app, entry);
  }

  swap(app: string): void {
    const active = this.running.get(app);
    const beside = this.besides.get(app);
    if (beside === undefined) return;
    this.running.set(app, beside);
    if (active !== undefined) this.besides.set(app, active);
    else this.besides.delete(app);
    this.deps.onChange(app, beside.supervisor.snapshot(), beside.supervisor.identity());
  }

  async stopBeside(app: string): Promise<void> {
    const entry = this.besides.get(app);
    if (entry === undefined) return;
    try {
      await entry.supervisor.stop();
    } finally {
      if (this.besides.get(app) === entry) this.besides.delete(app);
    }
  }

  /** Takes over the process an earlier agent left running beside the active one; false when it is gone. */
  adoptBeside(release: Omit<SupervisedRelease, 'env'>, identity: ProcessIdentity, slot: SlotName): boolean {
    const active = this.running.get(release.app);
    const entry = this.supervise(release, slot);
    this.running.delete(release.app);
    if (active !== undefined) this.running.set(release.app, active);
    if (!entry.supervisor.adopt(identity)) return false;
    this.besides.set(release.app, entry);
    return true;
  }

  private supervise(release: Omit<SupervisedRelease, 'env'>, slot: SlotName = 'a'): RunningRelease {
    const mark = this.deps.markOf?.(release.app);
    const user = this.deps.userOf?.(release.app);
    const full: SupervisedRelease = {
      ...release,
      // An app that declares slots listens where its slot says, whatever its env or the host's overrides say.
      env: {
        ...appEnvironment(release.manifest, this.deps.envOverrides[release.app]?.env),
        ...(release.manifest.traffic ? slotEnv(release.manifest.traffic, slot) : {}),
      },
      ...(mark !== undefined ? { mark } : {}),
      ...(user !== undefined ? { user } : {}),
    };
    const app = release.app;
    const supervisor: AppSupervisor = new AppSupervisor(full, {
      logger: this.deps.logger,
      ...this.deps.supervisorOptions,
      onChange: (snapshot) => {
        // Only the supervisor that currently holds the app speaks for it.
        if (this.running.get(app)?.supervisor === supervisor) {
          this.deps.onChange(app, snapshot, supervisor.identity());
        }
      },
    });
    const entry: RunningRelease = { app, version: release.version, supervisor, ...(release.manifest.traffic ? { slot } : {}) };
    this.running.set(app, entry);
    return entry;
  }

  /** Starts a release's process under a new supervisor; the app must have none. */
  async launch(release: Omit<SupervisedRelease, 'env'>, slot?: SlotName): Promise<RunningRelease> {
    if (this.running.has(release.app)) await this.stop(release.app);
    const entry = this.supervise(release, slot);
    await entry.supervisor.start();
    this.deps.onChange(release.app, entry.supervisor.snapshot(), entry.supervisor.identity());
    return entry;
  }

  /**
   * Takes over a process an earlier agent process started. False (and nothing supervised) when
   * that process is gone.
   */
  adopt(release: Omit<SupervisedRelease, 'env'>, identity: ProcessIdentity, slot?: SlotName): boolean {
    const entry = this.supervise(release, slot);
    if (entry.supervisor.adopt(identity)) {
      this.deps.onChange(release.app, entry.supervisor.snapshot(), entry.supervisor.identity());
      return true;
    }
    this.running.delete(release.app);
    return false;
  }

  /**
   * The live processes an earlier agent process started for `apps`, found by their mark (also
   * those whose pid it never got to save), by app.
   */
  findStarted(apps: readonly string[]): Map<string, MarkedProcess[]> {
    const byMark = new Map<string, string>();
    for (const app of apps) {
      const mark = this.deps.markOf?.(app);
      if (mark !== undefined) byMark.set(mark, app);
    }
    const found = new Map<string, MarkedProcess[]>();
    for (const p of findMarkedProcesses(new Set(byMark.keys()))) {
      const app = byMark.get(p.mark) as string;
      found.set(app, [...(found.get(app) ?? []), p]);
    }
    return found;
  }

  /** Stops the app's process and forgets its supervisor; nothing happens when none runs. */
  async stop(app: string): Promise<void> {
    const entry = this.running.get(app);
    if (!entry) return;
    try {
      await entry.supervisor.stop();
    } finally {
      if (this.running.get(app) === entry) this.running.delete(app);
    }
  }

  /** Lets every app run on without the agent: no more restarts, checks or timers from here. */
  detachAll(): void {
    for (const { supervisor } of [...this.running.values(), ...this.besides.values()]) supervisor.detach();
  }
}
