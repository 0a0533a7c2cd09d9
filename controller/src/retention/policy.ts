import type { ArtifactRecord } from '../store/records.js';

/** Why a version is never deleted, in words for operators: `stable`, `assigned to hosts h1, h2`... */
export type Protections = ReadonlyMap<string, readonly string[]>;

/** One app's versions sorted by retention: what stays (and why) and what may go. */
export interface RetentionPlan {
  app: string;
  /** Newest first. `protectedBy` empty: kept only as one of the newest `keepVersions`. */
  keep: { record: ArtifactRecord; protectedBy: readonly string[] }[];
  /** Neither protected nor among the newest `keepVersions`; newest first. */
  remove: ArtifactRecord[];
}

/**
 * The retention rule for one app: every protected version stays; of the others, the newest
 * `keepVersions` by upload time stay (protected ones do not use up that count, so a fleet
 * pinned to old versions does not push recent uploads out); the rest may be deleted.
 */
export function planRetention(app: string, artifacts: readonly ArtifactRecord[], keepVersions: number, protections: Protections): RetentionPlan {
  const newestFirst = artifacts
    .filter((a) => a.app === app)
    .sort((a, b) => b.uploadedAtMs - a.uploadedAtMs || (a.version < b.version ? 1 : -1));
  const plan: RetentionPlan = { app, keep: [], remove: [] };
  let kept = 0;
  for (const record of newestFirst) {
    const protectedBy = protections.get(record.version) ?? [];
    if (protectedBy.length > 0) plan.keep.push({ record, protectedBy });
    else if (kept < keepVersions) {
      kept++;
      plan.keep.push({ record, protectedBy });
    } else plan.remove.push(record);
  }
  return plan;
}

/** The reasons each version of an app is protected, from the facts retention is given. */
export function protectionsOf(input: {
  stable: string | null;
  previousStable: string | null;
  assignedHosts: ReadonlyMap<string, readonly string[]>;
  rollout: { id: string; target: string; source: string | null } | null;
}): Protections {
  const out = new Map<string, string[]>();
  const add = (version: string | null, why: string) => {
    if (version) out.set(version, [...(out.get(version) ?? []), why]);
  };
  add(input.stable, 'stable');
  add(input.previousStable, 'previous stable');
  for (const [version, hosts] of input.assignedHosts) add(version, `assigned to ${hostList(hosts)}`);
  if (input.rollout) {
    add(input.rollout.target, `target of active rollout ${input.rollout.id}`);
    add(input.rollout.source, `source of active rollout ${input.rollout.id} (where it reverts to)`);
  }
  return out;
}

/** Hosts named in a reason; a large fleet is summarised rather than listed whole. */
const HOSTS_NAMED = 5;

function hostList(hosts: readonly string[]): string {
  const noun = hosts.length === 1 ? 'host' : 'hosts';
  if (hosts.length <= HOSTS_NAMED) return `${noun} ${hosts.join(', ')}`;
  return `${hosts.length} hosts (${hosts.slice(0, HOSTS_NAMED).join(', ')}, ...)`;
}
