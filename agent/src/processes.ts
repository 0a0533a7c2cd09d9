import type { Logger, Manifest } from '@flotilla/shared';
import {
  AppSupervisor,
  findMarkedProcesses,
  type MarkedProcess,
  type ProcessIdentity,
  type ProcessSnapshot,
  type SupervisedRelease,
} from './process/index.js';
import { slotEnv } from './traffic/index.js';

/** What one supervised app runs: its release and the environment it was started with. */
export interface RunningRelease {
  readonly app: string;
  readonly version: string;
  readonly supervisor: AppSupervisor;
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
  /** Overrides for the supervisors (tests shorten their timers). */
  supervisorOptions?: { settleMs?: number; adoptPollMs?: number };
}

/** What convergence needs of the supervised apps (AppProcesses; a fake in unit tests). */
export interface AppRunner {
  get(app: string): { readonly version: string } | undefined;
  apps(): string[];
  identity(app: string): ProcessIdentity | null;
  launch(release: Omit<SupervisedRelease, 'env'>): Promise<unknown>;
  stop(app: string): Promise<void>;
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
export class AppProcesses implements AppRunner {
  private readonly running = new Map<string, RunningRelease>();

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

  private supervise(release: Omit<SupervisedRelease, 'env'>): RunningRelease {
    const mark = this.deps.markOf?.(release.app);
    const full: SupervisedRelease = {
      ...release,
      // An app that declares slots listens where its slot says, whatever its env or the host's overrides say.
      env: {
        ...appEnvironment(release.manifest, this.deps.envOverrides[release.app]?.env),
        ...(release.manifest.traffic ? slotEnv(release.manifest.traffic, 'a') : {}),
      },
      ...(mark !== undefined ? { mark } : {}),
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
    const entry: RunningRelease = { app, version: release.version, supervisor };
    this.running.set(app, entry);
    return entry;
  }

  /** Starts a release's process under a new supervisor; the app must have none. */
  async launch(release: Omit<SupervisedRelease, 'env'>): Promise<RunningRelease> {
    if (this.running.has(release.app)) await this.stop(release.app);
    const entry = this.supervise(release);
    await entry.supervisor.start();
    this.deps.onChange(release.app, entry.supervisor.snapshot(), entry.supervisor.identity());
    return entry;
  }

  /**
   * Takes over a process an earlier agent process started. False (and nothing supervised) when
   * that process is gone.
   */
  adopt(release: Omit<SupervisedRelease, 'env'>, identity: ProcessIdentity): boolean {
    const entry = this.supervise(release);
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
    for (const { supervisor } of this.running.values()) supervisor.detach();
  }
}
