import type { Assignment } from '@flotilla/shared';

/** The calls the download check needs; AssignmentWriter and ArtifactStore hand them in. */
export interface HostArtifactsDeps {
  currentAssignment(hostId: string): Assignment | undefined;
  artifactSha256(app: string, version: string): Promise<string | undefined>;
}

/** How many artifacts per host stay downloadable after they left its assignment. */
const RECENT_PER_HOST = 8;

/**
 * What a host may download: the artifacts its assignment names (each app's version and its
 * stable version, which a revert needs), and the last few it was assigned, so a download under
 * way when the assignment moved still finishes. Nothing else: a host cannot fetch another
 * host's apps by guessing hashes.
 */
export class HostArtifacts {
  private readonly recent = new Map<string, string[]>();

  constructor(private readonly deps: HostArtifactsDeps) {}

  async allowed(hostId: string, sha256: string): Promise<boolean> {
    const now = await this.assigned(hostId);
    const seen = this.recent.get(hostId) ?? [];
    for (const s of now) {
      if (!seen.includes(s)) seen.push(s);
    }
    this.recent.set(hostId, seen.slice(-RECENT_PER_HOST));
    return now.has(sha256) || seen.includes(sha256);
  }

  private async assigned(hostId: string): Promise<Set<string>> {
    const out = new Set<string>();
    const assignment = this.deps.currentAssignment(hostId);
    if (!assignment) return out;
    for (const [app, a] of Object.entries(assignment.apps)) {
      const sha = shaOf(a.release.payload);
      if (sha) out.add(sha);
      if (a.stableVersion && a.stableVersion !== a.version) {
        const stable = await this.deps.artifactSha256(app, a.stableVersion);
        if (stable) out.add(stable);
      }
    }
    return out;
  }
}

function shaOf(payload: string): string | undefined {
  try {
    const d = JSON.parse(payload) as { sha256?: unknown };
    return typeof d.sha256 === 'string' ? d.sha256 : undefined;
  } catch {
    return undefined;
  }
}
