import type { AppRecord, ArtifactRecord, BadVersionRecord } from '../store/records.js';
import type { AppHistoryRecord, RolloutSummaryRecord, StablePeriodRecord } from './records.js';

/** An app's versions and rollouts, for `flotilla history`. */
export interface AppHistory {
  app: string;
  stableVersion: string | null;
  stableSinceMs: number | null;
  previousStableVersion: string | null;
  /** Oldest first: versions with an artifact, and versions that were once stable. */
  versions: {
    version: string;
    uploadedAtMs: number | null;
    stable: boolean;
    periods: StablePeriodRecord[];
    /** Set when the version is marked bad. */
    bad: BadVersionRecord | null;
  }[];
  /** Newest first. */
  rollouts: RolloutSummaryRecord[];
}

/** Puts the app's records together into what `flotilla history` shows (pure). */
export function appHistory(
  app: string,
  record: AppRecord | null,
  artifacts: readonly ArtifactRecord[],
  history: AppHistoryRecord,
  rollouts: RolloutSummaryRecord[],
): AppHistory {
  const stableVersion = record?.stableVersion ?? null;
  const bad = new Map((record?.badVersions ?? []).map((b) => [b.version, b]));
  const versions = new Map<string, AppHistory['versions'][number]>();
  const entry = (version: string, uploadedAtMs: number | null) => ({
    version,
    uploadedAtMs,
    stable: version === stableVersion,
    periods: [] as StablePeriodRecord[],
    bad: bad.get(version) ?? null,
  });
  for (const a of artifacts) versions.set(a.version, entry(a.version, a.uploadedAtMs));
  for (const period of history.stable) {
    let v = versions.get(period.version);
    if (!v) {
      v = entry(period.version, null);
      versions.set(period.version, v);
    }
    v.periods.push(period);
  }
  return {
    app,
    stableVersion,
    stableSinceMs: record?.stableSinceMs ?? null,
    previousStableVersion: record?.previousStableVersion ?? null,
    versions: [...versions.values()].sort(
      (a, b) => (a.uploadedAtMs ?? a.periods[0]?.sinceMs ?? 0) - (b.uploadedAtMs ?? b.periods[0]?.sinceMs ?? 0),
    ),
    rollouts,
  };
}
