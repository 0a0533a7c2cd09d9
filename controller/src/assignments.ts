import { createHash } from 'node:crypto';
import {
  ASSIGNMENT_TYPE,
  ConflictError,
  DEFAULT_ASSIGNMENT_TTL_MS,
  FlotillaError,
  comparePositions,
  parseKeyRotation,
  positionOf,
  UnavailableError,
  canonicalJson,
  parseAssignment,
  signAssignment,
  toFlotillaError,
  type AppAssignment,
  type Assignment,
  type Logger,
  type Signed,
  type SignedAssignment,
  type SigningKey,
  type SyncReply,
} from '@flotilla/shared';
import { KeyedMutex, mapConcurrentSettled } from './concurrency.js';
import type { JsonBucket } from './store/kv.js';
import type { AssignmentRecord } from './store/records.js';
import { compareWithRecord, type StoreBehindFinding } from './store-behind.js';

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
  publish(hostId: string, signed: SignedAssignment): void;
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

const NO_TRUST: AssignmentTrust = Object.freeze({
  keyEpoch: 1,
  keyChain: [],
  revocations: [],
  policies: new Map(),
  revokedKeyIds: [],
  revokedVersions: new Map(),
});

/**
 * When a host's assignment is due to be signed again: past half its life plus a per-host share
 * of another quarter (so that a fleet written at once is not re-signed at once), or at once when
 * it is of an older key epoch, has no expiry, or carries other release documents than now.
 * Pure: the clock comes in.
 */
export function refreshDueAtMs(assignment: Assignment, hostId: string, ttlMs: number, trust: AssignmentTrust): number {
  if ((assignment.epoch ?? 1) < trust.keyEpoch || assignment.expiresAtMs === undefined) return 0;
  if (carriedOf(assignment) !== expectedCarried(assignment, trust)) return 0;
  const life = assignment.expiresAtMs - assignment.issuedAtMs;
  return assignment.issuedAtMs + Math.floor(life / 2) + Math.floor(jitterFraction(hostId) * (life / 4));
}

/** A host's fixed place in [0, 1): spreads re-signing over time without any state. */
function jitterFraction(hostId: string): number {
  return createHash('sha256').update(hostId).digest().readUInt32BE(0) / 2 ** 32;
}

const carriedMemo = new WeakMap<AssignmentTrust, Map<string, string>>();

/** What an assignment for these apps would carry now; memoised per app set, as fleets share few. */
function expectedCarried(assignment: Assignment, trust: AssignmentTrust): string {
  let memo = carriedMemo.get(trust);
  if (memo === undefined) carriedMemo.set(trust, (memo = new Map()));
  const key = Object.keys(assignment.apps).sort().join(',');
  let text = memo.get(key);
  if (text === undefined) {
    text = carriedOf(buildAssignment({ hostId: 'x', previousSeq: 0, apps: { ...assignment.apps }, nowMs: 0, trust }));
    if (memo.size < 10_000) memo.set(key, text);
  }
  return text;
}

/** The release documents an assignment carries, comparable as text. */
function carriedOf(a: Assignment): string {
  return canonicalJson({ r: a.revocations ?? [], p: Object.entries(a.apps).map(([n, x]) => [n, x.policy ?? null]) });
}

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

export interface AssignmentWriterOptions {
  bucket: JsonBucket<AssignmentRecord>;
  signingKey: SigningKey;
  publisher: AssignmentPublisher;
  logger: Logger;
  /** Hosts written at the same time by assignMany. @default 16 */
  concurrency?: number;
  /** @default Date.now */
  now?: () => number;
  /** Told about every assignment written (metrics). */
  onWritten?: (hostId: string, seq: number) => void;
  /** How long an assignment is good for; re-signed from half of it. @default DEFAULT_ASSIGNMENT_TTL_MS */
  ttlMs?: number;
  /** Key epoch and chain, revocations and app policies. @default epoch 1, none */
  trust?: AssignmentTrust;
  /**
   * The leader's fencing number, asked before every write (it throws on a controller that is not
   * leading). @default none: every write goes ahead (a controller on its own, unit tests)
   */
  fence?: AssignmentFence;
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

/**
 * Writes hosts' assignments: read the current one, apply a mutation, sign the result with the
 * controller key, compare-and-set it into `flotilla_assignments`, and only then publish it.
 * Also answers sync requests and re-sends an assignment a host has not caught up with.
 */
export class AssignmentWriter {
  private readonly cache = new Map<string, { record: AssignmentRecord; assignment: Assignment }>();
  /** Seqs hosts reported accepting above what the controller has on record (in the current epoch). */
  private readonly floors = new Map<string, number>();
  /** The key epoch each host reported trusting: rotation statements above it go out first. */
  private readonly hostKeyEpochs = new Map<string, number>();
  private readonly trust: AssignmentTrust;
  private readonly ttlMs: number;
  /** Hosts whose last heartbeat said they hold only an expired assignment: renewed on the next tick. */
  private readonly staleHosts = new Set<string>();
  private readonly dueAt = new WeakMap<Assignment, number>();
  private chainEpochs: { signed: Signed; epoch: number }[] | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<unknown> | null = null;
  private readonly lastSentMs = new Map<string, number>();
  /** Hosts whose current record this process wrote (not merely read from the store at start). */
  private readonly writtenHere = new Set<string>();
  /** Host to the seq at which one heartbeat disagreed with the record's versions (see noteAcceptedSeq). */
  private readonly divergedOnce = new Map<string, number>();
  private readonly perHost = new KeyedMutex();
  private readonly now: () => number;
  private readonly logger: Logger;

  private constructor(private readonly opts: AssignmentWriterOptions) {
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger;
    this.trust = opts.trust ?? NO_TRUST;
    this.ttlMs = opts.ttlMs ?? DEFAULT_ASSIGNMENT_TTL_MS;
  }

  /** Loads every host's current assignment into memory (for re-sends and status). */
  static async load(opts: AssignmentWriterOptions): Promise<AssignmentWriter> {
    const writer = new AssignmentWriter(opts);
    for (const { key, value } of await opts.bucket.list()) writer.remember(key, value);
    return writer;
  }

  /** The epoch of the controller key assignments are signed with. */
  get keyEpoch(): number {
    return this.trust.keyEpoch;
  }

  /** Throws ConflictError when the app's signed policy revokes `version`. */
  refuseRevoked(app: string, version: string): void {
    if (this.trust.revokedVersions.get(app)?.has(version)) {
      throw new ConflictError(`${app}@${version} is revoked by the app's signed policy: no host would install it (force does not override it)`, {
        details: { kind: 'state', app, version },
      });
    }
  }

  /** The host's current assignment as last written or read by this controller. */
  current(hostId: string): { readonly record: AssignmentRecord; readonly assignment: Assignment } | undefined {
    return this.cache.get(hostId);
  }

  /** Every host that has an assignment. */
  hostIds(): string[] {
    return [...this.cache.keys()];
  }

  /** A record another controller (the leader) wrote, seen in the bucket: keeps reads here current. */
  observe(hostId: string, record: AssignmentRecord): void {
    const cached = this.cache.get(hostId);
    if (!cached || cached.record.seq < record.seq) this.remember(hostId, record);
  }

  /** The host's current assignment record, read from KV. */
  async read(hostId: string): Promise<AssignmentRecord | null> {
    const entry = await this.opts.bucket.get(hostId);
    if (entry) this.remember(hostId, entry.value);
    return entry?.value ?? null;
  }

  /**
   * Gives one host a new assignment built by `mutate` from its current apps. Nothing is written
   * or sent when the apps come out unchanged.
   */
  assign(hostId: string, mutate: AppsMutation): Promise<AssignResult> {
    return this.write(hostId, mutate, false);
  }

  /**
   * Signs a host's current apps again with a new seq (a fresh expiry, the current key epoch and
   * release documents), but only when `refreshDueAtMs` says so: true when it wrote.
   */
  async refresh(hostId: string): Promise<boolean> {
    if (!this.refreshDue(hostId)) return false;
    this.staleHosts.delete(hostId);
    return (await this.write(hostId, (apps) => ({ ...apps }), true)).changed;
  }

  private refreshDue(hostId: string): boolean {
    const c = this.cache.get(hostId);
    if (c === undefined) return false;
    // Fixed for an assignment (the trust does not change while the controller runs): computed
    // once, so that the minute's scan of 25,000 hosts is a lookup each.
    let due = this.dueAt.get(c.assignment);
    if (due === undefined) this.dueAt.set(c.assignment, (due = refreshDueAtMs(c.assignment, hostId, this.ttlMs, this.trust)));
    return this.staleHosts.has(hostId) || due <= this.now();
  }

  /**
   * Re-signs every assignment that is due, `concurrency` at a time; then again every
   * `intervalMs`. Each host's assignment is signed about once per half its life, spread out.
   */
  startRefresh(intervalMs: number): void {
    const tick = () => {
      if (this.refreshing !== null || !this.mayWrite()) return;
      const due = this.hostIds().filter((id) => this.refreshDue(id));
      if (due.length === 0) return;
      this.refreshing = mapConcurrentSettled(due, this.opts.concurrency ?? 16, (id) => this.refresh(id))
        .then((settled) => {
          const failed = settled.filter((r) => r.status === 'rejected').length;
          this.logger.info({ due: due.length, failed }, 'assignments re-signed');
        })
        .finally(() => {
          this.refreshing = null;
        });
    };
    this.refreshTimer = setInterval(tick, intervalMs);
    this.refreshTimer.unref();
    tick();
  }

  /** False on a controller that is not leading: its writes would be refused by the fence. */
  private mayWrite(): boolean {
    try {
      this.opts.fence?.fence();
      return true;
    } catch {
      return false;
    }
  }

  /** Stops re-signing and waits for a round in flight. */
  async stopRefresh(): Promise<void> {
    clearInterval(this.refreshTimer);
    await this.refreshing;
  }

  private write(hostId: string, mutate: AppsMutation, force: boolean): Promise<AssignResult> {
    return this.perHost.run(hostId, async () => {
      const fence = this.opts.fence?.fence();
      let written: { record: AssignmentRecord; assignment: Assignment } | undefined;
      let unchanged: { record: AssignmentRecord; assignment: Assignment } | undefined;
      await this.opts.bucket.updateWithRetry(hostId, (current) => {
        written = undefined;
        unchanged = undefined;
        if (fence !== undefined) refuseNewerLeader(hostId, current?.value.fence, fence);
        const previous = current ? parseAssignment(current.value.signed.payload) : null;
        const previousApps: AssignedApps = previous?.apps ?? {};
        const apps = stripCarried(mutate(previousApps, hostId));
        const sameEpoch = (previous?.epoch ?? 1) === this.trust.keyEpoch;
        // The next seq must exceed the floor: a seq the host accepted above the record, or one it
        // holds other versions under (store-behind.ts). A new key epoch counts afresh.
        const floor = sameEpoch ? (this.floors.get(hostId) ?? 0) : 0;
        const same = canonicalJson(apps) === canonicalJson(stripCarried(previousApps));
        if (same && !force && sameEpoch && (current ? current.value.seq > floor : true)) {
          if (current && previous) unchanged = { record: current.value, assignment: previous };
          return undefined;
        }
        checkAssignable(previousApps, apps, this.trust);
        const assignment = buildAssignment({
          hostId,
          // A new key epoch counts afresh.
          previousSeq: sameEpoch ? (current?.value.seq ?? 0) : 0,
          seqFloor: floor,
          apps,
          nowMs: this.now(),
          epoch: this.trust.keyEpoch,
          ttlMs: this.ttlMs,
          trust: this.trust,
        });
        const record: AssignmentRecord = {
          ...current?.value,
          hostId,
          epoch: this.trust.keyEpoch,
          seq: assignment.seq,
          signed: signAssignment(assignment, this.opts.signingKey),
          updatedAtMs: assignment.issuedAtMs,
          ...(fence !== undefined ? { fence } : {}),
        };
        written = { record, assignment };
        return record;
      });
      if (!written) {
        if (unchanged) this.remember(hostId, unchanged.record);
        return {
          hostId,
          seq: unchanged?.record.seq ?? 0,
          changed: false,
          assignment: unchanged?.assignment ?? null,
        };
      }
      this.cache.set(hostId, written);
      this.writtenHere.add(hostId);
      this.floors.delete(hostId);
      this.send(hostId, written.record.signed);
      this.opts.onWritten?.(hostId, written.record.seq);
      this.logger.info(
        { hostId, seq: written.record.seq, apps: summarise(written.assignment.apps) },
        'assignment written',
      );
      return { hostId, seq: written.record.seq, changed: true, assignment: written.assignment };
    });
  }

  /**
   * Assigns to many hosts, at most `concurrency` at a time. Every host is attempted; if any
   * failed, the error names each of them (the others keep what they were given).
   */
  async assignMany(hostIds: readonly string[], mutate: AppsMutation): Promise<AssignResult[]> {
    const settled = await mapConcurrentSettled(hostIds, this.opts.concurrency ?? 16, (id) => this.assign(id, mutate));
    const failures = settled.flatMap((s, i) => (s.status === 'rejected' ? [{ hostId: hostIds[i] as string, err: toFlotillaError(s.reason) }] : []));
    if (failures.length > 0) {
      const first = failures[0] as { hostId: string; err: FlotillaError };
      const list = failures.slice(0, 5).map((f) => `${f.hostId}: ${f.err.message}`).join('; ');
      throw new FlotillaError(
        first.err.code,
        `assignment failed for ${failures.length} of ${hostIds.length} hosts (${list}); the other hosts got theirs`,
        { cause: first.err, details: { failed: failures.map((f) => f.hostId) } },
      );
    }
    return settled.map((s) => (s as PromiseFulfilledResult<AssignResult>).value);
  }

  /**
   * The answer to a host's sync request: its current signed assignment from KV. When KV cannot
   * be read the cached one is used; with neither there is no answer (undefined), since replying
   * "nothing assigned" could make a host stop its apps. The agent retries.
   */
  async syncReply(hostId: string): Promise<SyncReply | undefined> {
    try {
      const record = await this.read(hostId);
      if (record) this.lastSentMs.set(hostId, this.now());
      return this.withChain({ type: 'sync-reply', assignment: record?.signed ?? null });
    } catch (err) {
      const cached = this.cache.get(hostId);
      this.logger.warn({ hostId, err, fromCache: cached !== undefined }, 'cannot read assignment for sync');
      return cached ? this.withChain({ type: 'sync-reply', assignment: cached.record.signed }) : undefined;
    }
  }

  /** A host back after a rotation (or with its trust.json lost) catches up from the chain. */
  private withChain(reply: SyncReply): SyncReply {
    return this.trust.keyChain.length > 0 ? { ...reply, keyChain: [...this.trust.keyChain] } : reply;
  }

  /**
   * Called on every heartbeat: re-sends the current assignment when the host has not accepted
   * it yet (at most once per heartbeat interval), and, within the host's key epoch, finds a host
   * holding an assignment the store has no record of (store-behind.ts). Then the next assignment
   * goes above the host's seq, one this process wrote is issued again at once, and the finding is
   * returned for the event log. `desiredVersions` (from the heartbeat's apps) lets a seq handed out
   * twice be told apart; `trust` is what the host reports of its key epoch and staleness.
   */
  noteAcceptedSeq(
    hostId: string,
    acceptedSeq: number,
    heartbeatIntervalMs: number,
    desiredVersions?: Readonly<Record<string, string | null>>,
    trust?: HostTrustReport,
  ): StoreBehindFinding | undefined {
    if (trust !== undefined) {
      this.hostKeyEpochs.set(hostId, trust.keyEpoch);
      if (trust.stale) this.staleHosts.add(hostId);
      else this.staleHosts.delete(hostId);
      // A host holding only an expired assignment is the re-signing's to renew (next refresh
      // tick); what that assignment says is no evidence of lost writes.
      if (trust.stale) return undefined;
    }
    const cached = this.cache.get(hostId);
    const recorded = cached ? positionOf(cached.assignment) : { epoch: this.trust.keyEpoch, seq: 0 };
    const accepted = { epoch: trust?.acceptedEpoch ?? 1, seq: acceptedSeq };
    if (accepted.epoch !== recorded.epoch) {
      // Another key epoch: the rotation chain brings a host that is behind forward; seqs of
      // different epochs say nothing about lost writes.
      if (comparePositions(accepted, recorded) > 0 || !cached) return undefined;
      this.resend(hostId, cached.record.signed, acceptedSeq, heartbeatIntervalMs);
      return undefined;
    }
    const versions = summarise(cached?.assignment.apps ?? {});
    const comparison = compareWithRecord({ seq: recorded.seq, versions }, { acceptedSeq, desiredVersions: desiredVersions ?? {} });
    if (comparison === 'diverged' && this.divergedOnce.get(hostId) !== recorded.seq) {
      // The agent can report a seq a moment before the versions of the assignment it just
      // accepted; a second heartbeat that still disagrees is evidence.
      this.divergedOnce.set(hostId, recorded.seq);
      return undefined;
    }
    if (comparison !== 'diverged') this.divergedOnce.delete(hostId);
    if (comparison === 'ahead' || comparison === 'diverged') {
      // Found already: the floor is set (and a re-issue under way).
      if (this.floors.has(hostId) && (this.floors.get(hostId) ?? 0) >= acceptedSeq) return undefined;
      this.floors.set(hostId, acceptedSeq);
      // Only a decision this process made is pushed again: a record read from a store that went
      // back in time would silently undo a deploy the store forgot (docs/reliability.md).
      const reissued = cached !== undefined && this.writtenHere.has(hostId);
      this.logger.warn(
        { hostId, acceptedSeq, seq: recorded.seq, comparison, reissued },
        'host holds an assignment the store has no record of; next assignment goes above its seq',
      );
      if (reissued) {
        void this.write(hostId, (apps) => ({ ...apps }), true).catch((err: unknown) =>
          this.logger.warn({ hostId, err }, 'cannot issue the assignment again above the host seq'),
        );
      }
      return { hostId, acceptedSeq, recordSeq: recorded.seq, comparison, recordVersions: versions, hostVersions: { ...desiredVersions }, reissued };
    }
    if (cached && comparison === 'catching-up') this.resend(hostId, cached.record.signed, acceptedSeq, heartbeatIntervalMs);
    return undefined;
  }

  /** Sends the record again to a host behind it, at most once per heartbeat interval. */
  private resend(hostId: string, signed: SignedAssignment, acceptedSeq: number, heartbeatIntervalMs: number): void {
    const last = this.lastSentMs.get(hostId) ?? 0;
    if (this.now() - last < heartbeatIntervalMs) return;
    this.logger.debug({ hostId, acceptedSeq }, 're-sending assignment');
    this.send(hostId, signed);
  }

  /** Rotation statements above `epoch`, oldest first. */
  private chainAbove(epoch: number): Signed[] {
    if (epoch >= this.trust.keyEpoch) return [];
    this.chainEpochs ??= this.trust.keyChain.map((signed) => ({ signed, epoch: parseKeyRotation(signed.payload).epoch }));
    return this.chainEpochs.filter((c) => c.epoch > epoch).map((c) => c.signed);
  }

  private send(hostId: string, signed: SignedAssignment): void {
    this.lastSentMs.set(hostId, this.now());
    try {
      // A host still on an older key takes the statements first, so the assignment verifies.
      for (const statement of this.chainAbove(this.hostKeyEpochs.get(hostId) ?? 1)) this.opts.publisher.publish(hostId, statement);
      this.opts.publisher.publish(hostId, signed);
    } catch (err) {
      // The record is written; the host gets it on its next sync or heartbeat-driven re-send.
      this.logger.warn({ hostId, err }, 'cannot publish assignment');
    }
  }

  private remember(hostId: string, record: AssignmentRecord): void {
    const cached = this.cache.get(hostId);
    if (cached && cached.record.signed.signature === record.signed.signature) return;
    try {
      this.cache.set(hostId, { record, assignment: parseAssignment(record.signed.payload) });
    } catch (err) {
      this.logger.error({ hostId, err }, 'stored assignment is malformed');
    }
  }
}

/** An app's assignment without what the writer adds itself (the app policy). */
function stripCarried(apps: AssignedApps): Record<string, AppAssignment> {
  return Object.fromEntries(Object.entries(apps).map(([name, { policy: _policy, ...a }]) => [name, a]));
}

/**
 * A deposed leader's late write must not land over a newer leader's: the record carries the
 * fencing number it was written under, and the write is a compare-and-set on that record's
 * revision, so the check and the write are one atomic step on the host's key.
 */
function refuseNewerLeader(hostId: string, stored: number | undefined, fence: number): void {
  if (stored !== undefined && stored > fence) {
    throw new UnavailableError(`assignment of ${hostId} refused: a newer leader (fencing number ${stored}) has written it; this controller's is ${fence}`, {
      details: { hostId, stored, fence },
    });
  }
}

function summarise(apps: AssignedApps): Record<string, string> {
  return Object.fromEntries(Object.entries(apps).map(([name, a]) => [name, a.version]));
}
