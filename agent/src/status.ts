import type { AppStatusReport, Assignment } from '@flotilla/shared';
import type { InstallProgress } from './converge.js';
import type { ProcessSnapshot } from './process/index.js';
import type { LocalState } from './state.js';

/** The longest error text a report carries (the heartbeat schema's limit). */
export const MAX_REPORT_ERROR = 4096;

export interface AppStatusInputs {
  app: string;
  assignment: Assignment | null;
  state: LocalState;
  snapshot: ProcessSnapshot | null;
  progress: InstallProgress | undefined;
  /** Stands in for `healthSinceMs` when no process is supervised (health has been unknown since then). */
  sinceMs: number;
  /** A problem of the agent's own that concerns every app (an assignment it could not save). */
  agentError?: string | null;
}

function clip(text: string | null): string | null {
  if (text === null) return null;
  return text.length > MAX_REPORT_ERROR ? `${text.slice(0, MAX_REPORT_ERROR - 3)}...` : text;
}

/** One app's status as a heartbeat reports it, without `updatedAtMs` (ReportClock adds it). */
export function appStatus(i: AppStatusInputs): Omit<AppStatusReport, 'updatedAtMs'> {
  const s = i.snapshot;
  return {
    app: i.app,
    desiredVersion: i.assignment?.apps[i.app]?.version ?? null,
    activeVersion: i.state.apps[i.app]?.activeVersion ?? null,
    processState: s?.processState ?? 'stopped',
    pid: s?.pid ?? null,
    restarts: s?.restarts ?? 0,
    health: s?.health ?? 'unknown',
    healthSinceMs: s?.healthSinceMs ?? i.sinceMs,
    installPhase: i.progress?.phase ?? 'idle',
    installVersion: i.progress?.version ?? null,
    // An install problem says more about what the controller asked for than a process one.
    error: clip(i.progress?.error ?? i.agentError ?? s?.error ?? null),
    ...(i.state.apps[i.app]?.traffic !== undefined ? { trafficWeight: i.state.apps[i.app]?.traffic?.weight as number } : {}),
  };
}

/** Apps worth reporting: assigned, remembered, supervised or being installed. */
export function reportedApps(
  assignment: Assignment | null,
  state: LocalState,
  ...more: ReadonlyArray<readonly string[]>
): string[] {
  const apps = new Set<string>([...Object.keys(assignment?.apps ?? {}), ...Object.keys(state.apps)]);
  for (const list of more) for (const app of list) apps.add(app);
  return [...apps].sort();
}

/** Stamps each app's report with the time its content last changed. */
export class ReportClock {
  private readonly seen = new Map<string, { key: string; atMs: number }>();

  stamp(report: Omit<AppStatusReport, 'updatedAtMs'>, nowMs: number): AppStatusReport {
    const key = JSON.stringify(report);
    const prev = this.seen.get(report.app);
    const atMs = prev && prev.key === key ? prev.atMs : nowMs;
    this.seen.set(report.app, { key, atMs });
    return { ...report, updatedAtMs: atMs };
  }
}
