import type { HealthState, Manifest, ProcessState } from '@flotilla/shared';
import type { AppUser } from './app-user.js';

/** One release of one app, as the supervisor runs it. */
export interface SupervisedRelease {
  app: string;
  version: string;
  /** Absolute path of `releases/<version>`, never the `current` link (it moves under us). */
  releaseDir: string;
  manifest: Manifest;
  /** The effective environment: the manifest's `start.env` with the agent's overrides applied. */
  env: Record<string, string>;
  /** `apps/<app>/logs`; the app's stdout and stderr go to `<logDir>/<app>.log`. */
  logDir: string;
  /**
   * Put in the app process's environment as FLOTILLA_AGENT_MARK, so that a restarted agent finds
   * a process it started but could not record (see findMarkedProcesses).
   */
  mark?: string;
  /** The user its processes run as; absent: the agent's own user. */
  user?: AppUser;
}

/** What happened when the process last ended. */
export interface ProcessExit {
  code: number | null;
  signal: string | null;
  atMs: number;
}

/** What the daemon reports about one app's process. */
export interface ProcessSnapshot {
  processState: ProcessState;
  pid: number | null;
  /** Restarts of this release's process after unexpected exits (not stop/start by the daemon). */
  restarts: number;
  health: HealthState;
  /** When `health` last changed (ms since epoch). */
  healthSinceMs: number;
  /** Why the process is not running as it should, or why its health check fails; null when fine. */
  error: string | null;
  startedAtMs: number | null;
  /** The last unexpected exit, null before the first one. */
  lastExit?: ProcessExit | null;
}

/**
 * Enough to recognise our process again after the agent restarted: a pid alone could have been
 * reused by an unrelated process, the pid together with its kernel start time cannot.
 */
export interface ProcessIdentity {
  pid: number;
  /** Start time of the process from /proc/<pid>/stat (clock ticks since boot) and the boot id. */
  startTime: string;
}
