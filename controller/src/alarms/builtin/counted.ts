import type { AppStatusReport } from '@flotilla/shared';

/** What the built-in alarms ask of the assignments. */
export interface AssignedVersions {
  /** The version of the app the host is told to run; undefined when it is not assigned the app. */
  assignedVersion(hostId: string, app: string): string | undefined;
  /** How many hosts are assigned the app, any version (may lag the assignments a little). */
  hostsAssigned(app: string): number;
}

/** Why a host's report about an app does not count for alarms. */
export type IgnoredReason = 'not-assigned' | 'other-version';

export interface CountedReports {
  /** Reports of apps the host is assigned, running the version it is assigned. */
  readonly counted: AppStatusReport[];
  /** Reports the alarms ignore, with why (a report of nothing running is neither). */
  readonly ignored: Array<{ readonly app: string; readonly reason: IgnoredReason }>;
}

/**
 * Splits a heartbeat's app reports into those alarms count and those they ignore. A host's word
 * is evidence about what the controller told it to run, nothing else: a report of an app it was
 * never assigned (a forged crash loop for someone else's app) or of a version other than its
 * assigned one (a revert or rollout not yet taken, or a lie) does not count.
 */
export function countedReports(hostId: string, apps: readonly AppStatusReport[], assigned: AssignedVersions): CountedReports {
  const counted: AppStatusReport[] = [];
  const ignored: Array<{ app: string; reason: IgnoredReason }> = [];
  for (const report of apps) {
    const version = assigned.assignedVersion(hostId, report.app);
    if (version !== undefined && report.activeVersion === version) {
      counted.push(report);
    } else if (report.activeVersion !== null) {
      ignored.push({ app: report.app, reason: version === undefined ? 'not-assigned' : 'other-version' });
    }
  }
  return { counted, ignored };
}
