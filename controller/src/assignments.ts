// The assignment writer: the one place that signs hosts' assignments, stores them in
// `flotilla_assignments` (one compare-and-set per host key) and only then sends them.
import {
  FlotillaError,
  comparePositions,
  ConflictError,
  DEFAULT_ASSIGNMENT_TTL_MS,
  parseKeyRotation,
  positionOf,
  canonicalJson,
  parseAssignment,
  toFlotillaError,
  type Assignment,
  type Logger,
  type Signed,
  type SignedAssignment,
  type SigningKey,
  type SyncReply,
} from '@flotilla/shared';
import {
  NO_TRUST,
  buildAssignment,
  checkAssignable,
  refuseNewerLeader,
  stripCarried,
  summarise,
  type AppsMutation,
  type AssignedApps,
  type AssignmentPublisher,
  type AssignmentFence,
  type HostTrustReport,
  type AssignmentTrust,
  type AssignResult,
} from './assignment-content.js';
import { AssignmentRefresh } from './assignment-refresh.js';
import { AssignmentSigner } from './assignment-signing.js';
import { KeyedMutex, mapConcurrentSettled } from './concurrency.js';
import type { Entry, RecordBucket } from './store/kv.js';
import type { AssignmentRecord } from './store/records.js';
import { compareWithRecord, type StoreBehindFinding } from './store-behind.js';

export * from './assignment-content.js';
export { refreshDueAtMs } from './assignment-refresh.js';

const NO_VERSIONS: Readonly<Record<string, string>> = Object.freeze({});
/** Each cached assignment's versions by app, worked out once: heartbeats compare with them every beat. */
const versionsByAssignment = new WeakMap<Assignment, Readonly<Record<string, string>>>();

/** `summarise` of a cached assignment (never changed in place: a new write is a new object). */
function versionsOf(assignment: Assignment): Readonly<Record<string, string>> {
  let versions = versionsByAssignment.get(assignment);
  if (versions === undefined) versionsByAssignment.set(assignment, (versions = Object.freeze(summarise(assignment.apps))));
  return versions;
}

export interface AssignmentWriterOptions {
  bucket: RecordBucket<AssignmentRecord>;
  signingKey: SigningKey;
  publisher: AssignmentPublisher;
  logger: Logger;
  /** Hosts whose current record assignMany reads at the same time (when it has no revision cached). @default 16 */
  concurrency?: number;
  /**
   * Compare-and-set writes assignMany keeps in flight at once: each still one host's key at its
   * read revision, so the fencing check and the per-host seq hold as for a single write. The
   * store spreads hosts over several buckets that nats-server flushes in parallel, and one
   * bucket's writes in flight together share its flushes' round trips (docs/performance.md,
   * rollout and revert). @default 16
   */
  pipeline?: number;
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

interface Cached {
  readonly record: AssignmentRecord;
  readonly assignment: Assignment;
  /** The record's KV revision when known (read or written here): a batch writes against it without reading first. */
  readonly revision?: number;
}

/**
 * The shortest gap between two re-sends asked for by basis-less heartbeat ticks: the interval a
 * host claims is its own to choose, so it is not the only bound.
 */
export const MIN_BASIS_RESEND_GAP_MS = 1000;

/** What one host's write comes to, decided on its current record. */
type Decision =
  | { readonly write: false; readonly unchanged: Cached | undefined }
  | { readonly write: true; readonly assignment: Assignment; readonly record: Omit<AssignmentRecord, 'signed'> };

/**
 * Writes hosts' assignments: read the current one, apply a mutation, sign the result with the
 * controller key, compare-and-set it into `flotilla_assignments`, and only then publish it.
 * Also answers sync requests and re-sends an assignment a host has not caught up with.
 */
export class AssignmentWriter {
  private readonly cache = new Map<string, Cached>();
  /** Seqs hosts reported accepting above what the controller has on record (in the current epoch). */
  private readonly floors = new Map<string, number>();
  /** The key epoch each host reported trusting: rotation statements above it go out first. */
  private readonly hostKeyEpochs = new Map<string, number>();
  private readonly signer: AssignmentSigner;
  private readonly trust: AssignmentTrust;
  private readonly ttlMs: number;
  private readonly refresher: AssignmentRefresh;
  private chainEpochs: { signed: Signed; epoch: number }[] | undefined;
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
    this.signer = new AssignmentSigner(opts.signingKey, { storedWithProof: (hostId) => this.cache.get(hostId)?.record.signed.proof !== undefined });
    this.refresher = new AssignmentRefresh(
      {
        hostIds: () => this.hostIds(),
        current: (hostId) => this.cache.get(hostId),
        mayWrite: () => this.mayWrite(),
        resignMany: async (hostIds) => (await this.writeMany(hostIds, (apps) => ({ ...apps }), true)).filter((s) => s.status === 'rejected').length,
      },
      { ttlMs: this.ttlMs, trust: this.trust, now: this.now, logger: this.logger },
    );
  }

  /** Loads every host's current assignment into memory (for re-sends and status). */
  static async load(opts: AssignmentWriterOptions): Promise<AssignmentWriter> {
    const writer = new AssignmentWriter(opts);
    for (const { key, value, revision } of await opts.bucket.list()) writer.remember(key, value, revision);
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

  /**
   * What a host's announce says: whether it takes an assignment signed by a step's root with a
   * proof. Until a host says so (or its stored assignment is of that form), it gets its own signature.
   */
  noteAnnounce(hostId: string, assignmentProofs: boolean): void {
    this.signer.noteAnnounce(hostId, assignmentProofs);
  }

  /** The host's current assignment record, read from KV. */
  async read(hostId: string): Promise<AssignmentRecord | null> {
    const entry = await this.opts.bucket.get(hostId);
    if (entry) this.remember(hostId, entry.value, entry.revision);
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
    if (!this.refresher.isDue(hostId)) return false;
    this.refresher.noteStale(hostId, false);
    return (await this.write(hostId, (apps) => ({ ...apps }), true)).changed;
  }

  /** Re-signs every host that is due now, in one batch: how many were due and how many failed. */
  refreshDue(): Promise<{ due: number; failed: number }> {
    return this.refresher.refreshDue();
  }

  /**
   * Re-signs every assignment that is due, then again every `intervalMs`. Each host's assignment
   * is signed about once per half its life, spread out.
   */
  startRefresh(intervalMs: number): void {
    this.refresher.start(intervalMs);
  }

  /** Stops re-signing and waits for a round in flight. */
  stopRefresh(): Promise<void> {
    return this.refresher.stop();
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

  /**
   * The write for one host on its current record, or why there is none. Pure but for the floors
   * it reads: it may run more than once for one write (once per lost compare-and-set race).
   */
  private decide(hostId: string, current: Entry<AssignmentRecord> | null, mutate: AppsMutation, force: boolean, fence: number | undefined): Decision {
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
      return { write: false, unchanged: current && previous ? { record: current.value, assignment: previous, revision: current.revision } : undefined };
    }
    checkAssignable(previousApps, apps, this.trust);
    const assignment = buildAssignment({
      hostId,
      previousSeq: sameEpoch ? (current?.value.seq ?? 0) : 0,
      seqFloor: floor,
      apps,
      nowMs: this.now(),
      epoch: this.trust.keyEpoch,
      ttlMs: this.ttlMs,
      trust: this.trust,
    });
    const record: Omit<AssignmentRecord, 'signed'> = {
      ...current?.value,
      hostId,
      epoch: this.trust.keyEpoch,
      seq: assignment.seq,
      updatedAtMs: assignment.issuedAtMs,
      ...(fence !== undefined ? { fence } : {}),
    };
    return { write: true, assignment, record };
  }

  private write(hostId: string, mutate: AppsMutation, force: boolean): Promise<AssignResult> {
    return this.perHost.run(hostId, async () => {
      const fence = this.opts.fence?.fence();
      let written: { record: AssignmentRecord; assignment: Assignment } | undefined;
      let unchanged: Cached | undefined;
      const entry = await this.opts.bucket.updateWithRetry(hostId, (current) => {
        written = undefined;
        unchanged = undefined;
        const decision = this.decide(hostId, current, mutate, force, fence);
        if (!decision.write) {
          unchanged = decision.unchanged;
          return undefined;
        }
        const record: AssignmentRecord = { ...decision.record, signed: this.signer.signAll([decision.assignment])[0] as SignedAssignment };
        written = { record, assignment: decision.assignment };
        return record;
      });
      if (!written) {
        if (unchanged) this.remember(hostId, unchanged.record, unchanged.revision);
        return { hostId, seq: unchanged?.record.seq ?? 0, changed: false, assignment: unchanged?.assignment ?? null };
      }
      const result = this.committed(hostId, written.record, written.assignment, entry?.revision);
      this.logger.info({ hostId, seq: written.record.seq, apps: summarise(written.assignment.apps) }, 'assignment written');
      return result;
    });
  }

  /** A record now durable in KV: remembered, and only then sent. */
  private committed(hostId: string, record: AssignmentRecord, assignment: Assignment, revision: number | undefined): AssignResult {
    const cached = this.cache.get(hostId);
    // Two writes of one host (a batch and a single one) may finish out of order: keep the later.
    if (!cached || comparePositions(positionOf(assignment), positionOf(cached.assignment)) >= 0) {
      this.cache.set(hostId, { record, assignment, ...(revision !== undefined ? { revision } : {}) });
    }
    this.writtenHere.add(hostId);
    this.floors.delete(hostId);
    this.send(hostId, record.signed);
    this.opts.onWritten?.(hostId, record.seq);
    return { hostId, seq: record.seq, changed: true, assignment };
  }

  /**
   * Writes many hosts as one step: every host's write is decided on its current record (the
   * cached one when its revision is known), the step is signed once (one root, a proof each, for
   * the hosts that take proofs), and the compare-and-set writes go out `pipeline` at a time, each
   * on its own key at the revision it was decided on. A host whose write loses a race (or whose
   * cached record was out of date) goes through the single write, which reads afresh. Each host
   * is sent its assignment only once its write is durable.
   */
  private async writeMany(hostIds: readonly string[], mutate: AppsMutation, force: boolean): Promise<PromiseSettledResult<AssignResult>[]> {
    const fence = this.opts.fence?.fence();
    const decided = await mapConcurrentSettled(hostIds, this.opts.concurrency ?? 16, async (hostId) => {
      const cached = this.cache.get(hostId);
      if (cached?.revision !== undefined) {
        const current = { key: hostId, value: cached.record, revision: cached.revision };
        try {
          const decision = this.decide(hostId, current, mutate, force, fence);
          // "Nothing to write" is no compare-and-set, so nothing would catch a cache behind the
          // store: the single write reads afresh (as it does for a refusal, which may come from
          // the same cause).
          return { current, decision: decision.write ? decision : null };
        } catch {
          return { current, decision: null };
        }
      }
      const current = await this.opts.bucket.get(hostId);
      if (current) this.remember(hostId, current.value, current.revision);
      return { current, decision: this.decide(hostId, current, mutate, force, fence) };
    });
    const toSign: Assignment[] = [];
    const signedAt = new Map<number, number>();
    decided.forEach((d, i) => {
      if (d.status === 'fulfilled' && d.value.decision?.write) {
        signedAt.set(i, toSign.length);
        toSign.push(d.value.decision.assignment);
      }
    });
    const signed = this.signer.signAll(toSign);
    const results = await mapConcurrentSettled(hostIds, this.opts.pipeline ?? 16, async (hostId, i) => {
      const d = decided[i] as (typeof decided)[number];
      if (d.status === 'rejected') throw d.reason;
      const { current, decision } = d.value;
      if (decision === null) return this.write(hostId, mutate, force);
      if (!decision.write) {
        if (decision.unchanged) this.remember(hostId, decision.unchanged.record, decision.unchanged.revision);
        return { hostId, seq: decision.unchanged?.record.seq ?? 0, changed: false, assignment: decision.unchanged?.assignment ?? null };
      }
      const record: AssignmentRecord = { ...decision.record, signed: signed[signedAt.get(i) as number] as SignedAssignment };
      let revision: number;
      try {
        revision = current ? await this.opts.bucket.update(hostId, record, current.revision) : await this.opts.bucket.create(hostId, record);
      } catch (err) {
        if (err instanceof ConflictError) return this.write(hostId, mutate, force);
        throw err;
      }
      const result = this.committed(hostId, record, decision.assignment, revision);
      if (this.logger.isLevelEnabled('debug')) this.logger.debug({ hostId, seq: record.seq, apps: summarise(decision.assignment.apps) }, 'assignment written');
      return result;
    });
    const written = results.filter((r) => r.status === 'fulfilled' && r.value.changed).length;
    const failed = results.filter((r) => r.status === 'rejected').length;
    this.logger.info({ hosts: hostIds.length, written, failed, withProof: signed.filter((x) => x.proof !== undefined).length }, 'assignments written');
    return results;
  }

  /**
   * Assigns to many hosts as one step (writeMany). Every host is attempted; if any failed, the
   * error names each of them (the others keep what they were given).
   */
  async assignMany(hostIds: readonly string[], mutate: AppsMutation): Promise<AssignResult[]> {
    let settled: PromiseSettledResult<AssignResult>[];
    try {
      settled = await this.writeMany(hostIds, mutate, false);
    } catch (err) {
      // Not leading: no host was written.
      settled = hostIds.map(() => ({ status: 'rejected', reason: err }));
    }
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
      return this.withChain({ type: 'sync-reply', assignment: record ? this.signer.formFor(hostId, record.signed) : null });
    } catch (err) {
      const cached = this.cache.get(hostId);
      this.logger.warn({ hostId, err, fromCache: cached !== undefined }, 'cannot read assignment for sync');
      return cached ? this.withChain({ type: 'sync-reply', assignment: this.signer.formFor(hostId, cached.record.signed) }) : undefined;
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
      this.refresher.noteStale(hostId, trust.stale);
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
    const versions = cached ? versionsOf(cached.assignment) : NO_VERSIONS;
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
      return { hostId, acceptedSeq, recordSeq: recorded.seq, comparison, recordVersions: { ...versions }, hostVersions: { ...desiredVersions }, reissued };
    }
    if (cached && comparison === 'catching-up') this.resend(hostId, cached.record.signed, acceptedSeq, heartbeatIntervalMs);
    return undefined;
  }

  /**
   * A heartbeat tick from the host named a full heartbeat this controller never got (it restarted,
   * was elected since, or the full one was lost): sends the host its current assignment again,
   * which an agent answers with a full heartbeat at once (control-link.ts). Rate-limited per host
   * like every re-send, and never more often than MIN_BASIS_RESEND_GAP_MS whatever interval the
   * host claims, so a flood of basis-less ticks costs at most one publish per host per gap. A
   * host with no assignment is sent nothing: its agent sends a full heartbeat within `fullEvery`
   * beats. Returns whether it sent.
   */
  resendForBasis(hostId: string, heartbeatIntervalMs: number): boolean {
    const cached = this.cache.get(hostId);
    if (!cached) return false;
    const last = this.lastSentMs.get(hostId) ?? 0;
    if (this.now() - last < Math.max(heartbeatIntervalMs, MIN_BASIS_RESEND_GAP_MS)) return false;
    this.logger.debug({ hostId }, 're-sending assignment for a heartbeat tick without basis');
    this.send(hostId, cached.record.signed);
    return true;
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
      this.opts.publisher.publish(hostId, this.signer.formFor(hostId, signed));
    } catch (err) {
      // The record is written; the host gets it on its next sync or heartbeat-driven re-send.
      this.logger.warn({ hostId, err }, 'cannot publish assignment');
    }
  }

  private remember(hostId: string, record: AssignmentRecord, revision?: number): void {
    const cached = this.cache.get(hostId);
    // The payload, not the signature: one root's signature is shared by every host of a step.
    if (cached && cached.record.signed.payload === record.signed.payload) {
      if (revision !== undefined && cached.revision !== revision) this.cache.set(hostId, { ...cached, revision });
      return;
    }
    try {
      this.cache.set(hostId, { record, assignment: parseAssignment(record.signed.payload), ...(revision !== undefined ? { revision } : {}) });
    } catch (err) {
      this.logger.error({ hostId, err }, 'stored assignment is malformed');
    }
  }
}
