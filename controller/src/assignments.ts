import {
  ASSIGNMENT_TYPE,
  FlotillaError,
  canonicalJson,
  parseAssignment,
  signAssignment,
  toFlotillaError,
  type AppAssignment,
  type Assignment,
  type Logger,
  type SignedAssignment,
  type SigningKey,
  type SyncReply,
} from '@flotilla/shared';
import { KeyedMutex, mapConcurrentSettled } from './concurrency.js';
import type { JsonBucket } from './store/kv.js';
import type { AssignmentRecord } from './store/records.js';

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
  /** The seq of the host's current assignment (0 for none). */
  previousSeq: number;
  /** A seq the next one must exceed too: the highest the host reports having accepted. */
  seqFloor?: number;
  apps: Record<string, AppAssignment>;
  nowMs: number;
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
    apps[name] = {
      version: a.version,
      release: { payload: a.release.payload, keyId: a.release.keyId, signature: a.release.signature },
      ...(a.stableVersion ? { stableVersion: a.stableVersion } : {}),
      // A traffic step's weight (docs/traffic.md): absent means all of it, the old release retired.
      ...(a.traffic ? { traffic: { weight: a.traffic.weight, ...(a.traffic.retire ? { retire: true } : {}) } } : {}),
    };
  }
  return {
    type: ASSIGNMENT_TYPE,
    hostId: input.hostId,
    seq: Math.max(input.previousSeq, input.seqFloor ?? 0) + 1,
    issuedAtMs: input.nowMs,
    apps,
  };
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
}

/**
 * Writes hosts' assignments: read the current one, apply a mutation, sign the result with the
 * controller key, compare-and-set it into `flotilla_assignments`, and only then publish it.
 * Also answers sync requests and re-sends an assignment a host has not caught up with.
 */
export class AssignmentWriter {
  private readonly cache = new Map<string, { record: AssignmentRecord; assignment: Assignment }>();
  /** Seqs hosts reported accepting above what the controller has on record. */
  private readonly floors = new Map<string, number>();
  private readonly lastSentMs = new Map<string, number>();
  private readonly perHost = new KeyedMutex();
  private readonly now: () => number;
  private readonly logger: Logger;

  private constructor(private readonly opts: AssignmentWriterOptions) {
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger;
  }

  /** Loads every host's current assignment into memory (for re-sends and status). */
  static async load(opts: AssignmentWriterOptions): Promise<AssignmentWriter> {
    const writer = new AssignmentWriter(opts);
    for (const { key, value } of await opts.bucket.list()) writer.remember(key, value);
    return writer;
  }

  /** The host's current assignment as last written or read by this controller. */
  current(hostId: string): { readonly record: AssignmentRecord; readonly assignment: Assignment } | undefined {
    return this.cache.get(hostId);
  }

  /** Every host that has an assignment. */
  hostIds(): string[] {
    return [...this.cache.keys()];
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
    return this.perHost.run(hostId, async () => {
      let written: { record: AssignmentRecord; assignment: Assignment } | undefined;
      let unchanged: { record: AssignmentRecord; assignment: Assignment } | undefined;
      await this.opts.bucket.updateWithRetry(hostId, (current) => {
        written = undefined;
        unchanged = undefined;
        const previous = current ? parseAssignment(current.value.signed.payload) : null;
        const previousApps: AssignedApps = previous?.apps ?? {};
        const apps = mutate(previousApps, hostId);
        const floor = this.floors.get(hostId) ?? 0;
        const same = canonicalJson(apps) === canonicalJson(previousApps);
        if (same && (current ? current.value.seq >= floor : true)) {
          if (current && previous) unchanged = { record: current.value, assignment: previous };
          return undefined;
        }
        const assignment = buildAssignment({
          hostId,
          previousSeq: current?.value.seq ?? 0,
          seqFloor: floor,
          apps,
          nowMs: this.now(),
        });
        const record: AssignmentRecord = {
          ...current?.value,
          hostId,
          seq: assignment.seq,
          signed: signAssignment(assignment, this.opts.signingKey),
          updatedAtMs: assignment.issuedAtMs,
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
      return { type: 'sync-reply', assignment: record?.signed ?? null };
    } catch (err) {
      const cached = this.cache.get(hostId);
      this.logger.warn({ hostId, err, fromCache: cached !== undefined }, 'cannot read assignment for sync');
      return cached ? { type: 'sync-reply', assignment: cached.record.signed } : undefined;
    }
  }

  /**
   * Called on every heartbeat: re-sends the current assignment when the host has not accepted
   * it yet (at most once per heartbeat interval), and remembers an accepted seq above the
   * controller's record so the next assignment goes above it.
   */
  noteAcceptedSeq(hostId: string, acceptedSeq: number, heartbeatIntervalMs: number): void {
    const cached = this.cache.get(hostId);
    const seq = cached?.record.seq ?? 0;
    if (acceptedSeq > seq) {
      if ((this.floors.get(hostId) ?? 0) < acceptedSeq) {
        this.floors.set(hostId, acceptedSeq);
        this.logger.warn({ hostId, acceptedSeq, seq }, 'host accepted a seq above the controller record; next assignment goes above it');
      }
      return;
    }
    if (!cached || acceptedSeq === seq) return;
    const last = this.lastSentMs.get(hostId) ?? 0;
    if (this.now() - last < heartbeatIntervalMs) return;
    this.logger.debug({ hostId, acceptedSeq, seq }, 're-sending assignment');
    this.send(hostId, cached.record.signed);
  }

  private send(hostId: string, signed: SignedAssignment): void {
    this.lastSentMs.set(hostId, this.now());
    try {
      this.opts.publisher.publish(hostId, signed);
    } catch (err) {
      // The record is written; the host gets it on its next sync or heartbeat-driven re-send.
      this.logger.warn({ hostId, err }, 'cannot publish assignment');
    }
  }

  private remember(hostId: string, record: AssignmentRecord): void {
    const cached = this.cache.get(hostId);
    if (cached && cached.record.seq === record.seq) return;
    try {
      this.cache.set(hostId, { record, assignment: parseAssignment(record.signed.payload) });
    } catch (err) {
      this.logger.error({ hostId, err }, 'stored assignment is malformed');
    }
  }
}

function summarise(apps: AssignedApps): Record<string, string> {
  return Object.fromEntries(Object.entries(apps).map(([name, a]) => [name, a.version]));
}
