// What an assignment holds: the apps a mutation gives a host, the release documents carried along,
// the next seq, and the versions no host would take. Pure: no store, no clock of its own.
import {
  ASSIGNMENT_TYPE,
  ConflictError,
  UnavailableError,
  DEFAULT_ASSIGNMENT_TTL_MS,
  canonicalJson,
  type AppAssignment,
  type Assignment,
  type Signed,
} from '@flotilla/shared';

/** A host's apps, as an assignment holds them. */
export type AssignedApps = Readonly<Record<string, AppAssignment>>;

/**
 * Turns a host's current apps into the apps it should run. It may be called more than once for
 * one write (once per lost compare-and-set race), so it must be pure.
 */
export type AppsMutation = (apps: AssignedApps, hostId: string) => Record<string, AppAssignment>;

export interface AssignResult {
  readonly hostId: string;
  /** The host's assignment seq after the call (0 when it has none). */
  readonly seq: number;
  /** False when the mutation changed nothing, so nothing was written or sent. */
  readonly changed: boolean;
  readonly assignment: Assignment | null;
}

/** Sends a host its signed assignment (on NATS, `<prefix>.v1.assign.<host>`). */
export interface AssignmentPublisher {
  publish(hostId: string, signed: Signed): void;
}

export interface BuildAssignmentInput {
  hostId: string;
  /** The seq of the host's current assignment in `epoch` (0 for none, or for one of an older epoch). */
  previousSeq: number;
  /** A seq the next one must exceed too: the highest the host reports having accepted. */
  seqFloor?: number;
  apps: Record<string, AppAssignment>;
  nowMs: number;
  /** The controller key's epoch. @default 1 */
  epoch?: number;
  /** How long the assignment is good for. @default DEFAULT_ASSIGNMENT_TTL_MS */
  ttlMs?: number;
  /** Release-signed documents carried along for the agent to keep. */
  trust?: CarriedTrust;
}

/**
 * What the controller knows beyond its own key, as the assignment writer needs it (read at start
 * by trust-documents.ts). The writer carries the signed documents to hosts and obeys them itself.
 */
export interface AssignmentTrust extends CarriedTrust {
  /** The epoch of the key the controller signs with; seq counts afresh in each. */
  readonly keyEpoch: number;
  /** Rotation statements, oldest first: sent ahead of an assignment to hosts that lack them. */
  readonly keyChain: readonly Signed[];
  readonly revokedKeyIds: readonly string[];
  readonly revokedVersions: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The release-signed documents an assignment carries. */
export interface CarriedTrust {
  readonly revocations: readonly Signed[];
  readonly policies: ReadonlyMap<string, Signed>;
}

export const NO_TRUST: AssignmentTrust = Object.freeze({
  keyEpoch: 1,
  keyChain: [],
  revocations: [],
  policies: new Map(),
  revokedKeyIds: [],
  revokedVersions: new Map(),
});

/**
 * The next assignment for a host: its whole desired state, with a seq above both the last one
 * issued and any the host reports having accepted (so a host that is somehow ahead of the
 * controller's records still takes it).
 */
export function buildAssignment(input: BuildAssignmentInput): Assignment {
  const apps: Record<string, AppAssignment> = {};
  for (const name of Object.keys(input.apps).sort()) {
    const a = input.apps[name] as AppAssignment;
    const policy = input.trust?.policies.get(name);
    apps[name] = {
      version: a.version,
      release: { payload: a.release.payload, keyId: a.release.keyId, signature: a.release.signature },
      ...(a.stableVersion ? { stableVersion: a.stableVersion } : {}),
      ...(policy ? { policy } : {}),
      // A traffic step's weight (docs/traffic.md): absent means all of it, the old release retired.
      ...(a.traffic ? { traffic: { weight: a.traffic.weight, ...(a.traffic.retire ? { retire: true } : {}) } } : {}),
    };
  }
  const revocations = input.trust?.revocations ?? [];
  return {
    type: ASSIGNMENT_TYPE,
    hostId: input.hostId,
    epoch: input.epoch ?? 1,
    seq: Math.max(input.previousSeq, input.seqFloor ?? 0) + 1,
    issuedAtMs: input.nowMs,
    expiresAtMs: input.nowMs + (input.ttlMs ?? DEFAULT_ASSIGNMENT_TTL_MS),
    apps,
    ...(revocations.length > 0 ? { revocations: [...revocations] } : {}),
  };
}

/**
 * Refuses to assign a version no host would take: one the app's policy revokes, or whose
 * descriptor a revoked release key signed. Only versions the mutation changes are checked, so
 * a host already running a version revoked later keeps it (and its assignment is still renewed).
 */
export function checkAssignable(previous: AssignedApps, next: AssignedApps, trust: AssignmentTrust): void {
  for (const [app, a] of Object.entries(next)) {
    if (previous[app]?.version === a.version) continue;
    if (trust.revokedVersions.get(app)?.has(a.version)) {
      throw new ConflictError(`${app}@${a.version} is revoked by the app's signed policy: no host would install it`, {
        details: { kind: 'state', app, version: a.version },
      });
    }
    if (trust.revokedKeyIds.includes(a.release.keyId)) {
      throw new ConflictError(`${app}@${a.version} is signed by revoked release key ${a.release.keyId}: no host would install it`, {
        details: { kind: 'state', app, version: a.version },
      });
    }
  }
}

/** The release documents an assignment carries, comparable as text. */
export function carriedOf(a: Assignment): string {
  return canonicalJson({ r: a.revocations ?? [], p: Object.entries(a.apps).map(([n, x]) => [n, x.policy ?? null]) });
}

/** An app's assignment without what the writer adds itself (the app policy). */
export function stripCarried(apps: AssignedApps): Record<string, AppAssignment> {
  return Object.fromEntries(Object.entries(apps).map(([name, { policy: _policy, ...a }]) => [name, a]));
}

/** App to version, for logs and store-behind comparisons. */
export function summarise(apps: AssignedApps): Record<string, string> {
  return Object.fromEntries(Object.entries(apps).map(([name, a]) => [name, a.version]));
}

/**
 * A deposed leader's late write must not land over a newer leader's: the record carries the
 * fencing number it was written under, and the write is a compare-and-set on that record's
 * revision, so the check and the write are one atomic step on the host's key.
 */
export function refuseNewerLeader(hostId: string, stored: number | undefined, fence: number): void {
  if (stored !== undefined && stored > fence) {
    throw new UnavailableError(`assignment of ${hostId} refused: a newer leader (fencing number ${stored}) has written it; this controller's is ${fence}`, {
      details: { hostId, stored, fence },
    });
  }
}

/** A host's trust as its heartbeats report it. */
export interface HostTrustReport {
  readonly acceptedEpoch: number;
  readonly keyEpoch: number;
  /** The host holds only an expired assignment. */
  readonly stale: boolean;
}

/** Where the writer learns the fencing number of the leadership it writes under. */
export interface AssignmentFence {
  fence(): number;
}
