import { ConflictError, type Logger } from '@flotilla/shared';
import type { AppLedger } from '../apps/ledger.js';
import type { AppEventRecord, NewAppEvent } from '../apps/records.js';
import type { AppsMutation } from '../assignments.js';
import type { RolloutAssigner } from '../rollouts/types.js';
import type { Entry } from '../store/kv.js';
import { rollbackEpisode, type AlarmPlan } from './alarm-plan.js';
import type { RevertCause, RevertRecord } from './records.js';
import type { RevertStore } from './store.js';
import type { RolloutTriggers } from './triggers.js';

/** The assignment writer, as reverts use it: writes, and each host's current assignment. */
export interface RevertAssigner extends RolloutAssigner {
  hostIds(): string[];
  current(hostId: string):
    | { readonly record: { readonly seq: number }; readonly assignment: { readonly apps: Readonly<Record<string, { readonly version: string }>> } }
    | undefined;
}

/** What the revert path asks of the app ledger. */
export type RevertLedger = Pick<AppLedger, 'requireArtifact' | 'markBad' | 'makeStable' | 'appendEvent'>;

export interface RevertPathOptions {
  store: RevertStore;
  ledger: RevertLedger;
  assignments: RevertAssigner;
  /** Only `exclusive` is used here: a revert never interleaves with a rollout start of its app. */
  rollouts: Pick<RolloutTriggers, 'exclusive'>;
  logger: Logger;
  /** @default Date.now */
  now?: () => number;
  /**
   * Fault injection for tests: called once a new revert record is written, before any of its
   * assignments (main.ts SIGKILLs the controller here when FLOTILLA_FAULT_KILL_AFTER_REVERT_RECORD is set).
   */
  afterRecordWritten?: (record: RevertRecord) => void;
}

/** A revert to start: what the plan decided, and who and what caused it. */
export interface RevertRequest {
  plan: Extract<AlarmPlan, { kind: 'revert' }>;
  /** The app's revert record as read (compare-and-set against it). */
  previous: Entry<RevertRecord> | null;
  app: string;
  cause: RevertCause;
  actor: string;
  reason: string;
  /** The hosts to move; absent: every host of the app off the target, less `exclude`. */
  hosts?: readonly string[];
  /** Hosts the rollout engine reverts itself. */
  exclude?: ReadonlySet<string>;
  /** Leave the version left behind good (a rollback to a version the operator named, a failed step). */
  keepGood?: boolean;
  /** The event the cause goes into the log as, once the record says which hosts it moves. */
  event: (revert: RevertRecord) => NewAppEvent;
}

export interface Reverted {
  revert: RevertRecord;
  /** The cause's event, as the log holds it. */
  event: AppEventRecord | null;
}

/**
 * The one way a fleet is sent back to a version: an alarm in a rollout's watch window or by
 * policy, the hosts of an app off its stable version while the engine reverts its own (an alarm
 * during a rollout), `flotilla rollback`, and a rollout's failed step (the hosts it touched,
 * reverts/failed-step.ts). One record,
 * `revert.<app>`, written with compare-and-set BEFORE any assignment (of concurrent alarms, here
 * or in another controller, one writes it and the others find it), and carrying the event its
 * cause goes into the log as, so that a crash cannot keep the revert and lose the event. Then
 * the assignments, the ledger (the version left behind bad, the target stable), the event, and
 * the record marked done: each step idempotent, so a revert found half-done is finished by
 * running the same steps again.
 */
export class RevertPath {
  private readonly logger: Logger;
  private readonly now: () => number;
  /** Reverts being carried out in this process, by id: a second caller waits for the first. */
  private readonly carrying = new Map<string, Promise<Reverted>>();

  constructor(private readonly opts: RevertPathOptions) {
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
  }

  /** The app's latest revert record. */
  read(app: string): Promise<Entry<RevertRecord> | null> {
    return this.opts.store.read(app);
  }

  /**
   * Writes the revert record (a ConflictError means another writer was first), then carries it
   * out. Called under the app's lock (`exclusive`).
   */
  async start(req: RevertRequest): Promise<Reverted> {
    const { app, plan } = req;
    await this.opts.ledger.requireArtifact(app, plan.toVersion);
    const seq = (req.previous?.value.seq ?? 0) + 1;
    const id = `${app}-r${seq}`;
    const record: RevertRecord = {
      app,
      id,
      seq,
      episode: plan.episode.startsWith('rollback:') ? rollbackEpisode(id) : plan.episode,
      cause: req.cause,
      actor: req.actor,
      reason: req.reason,
      fromVersion: plan.fromVersion,
      badVersion: req.keepGood ? null : plan.fromVersion,
      toVersion: plan.toVersion,
      rolloutId: plan.rolloutId,
      hostIds: req.hosts ? [...req.hosts].sort() : this.hostsOff(app, plan.toVersion, req.exclude ?? new Set()),
      status: 'reverting',
      startedAtMs: this.now(),
      finishedAtMs: null,
      holdUntilMs: plan.holdUntilMs,
    };
    record.event = req.event(record);
    const revision = await this.opts.store.write(record, req.previous?.revision ?? null);
    this.opts.afterRecordWritten?.(record);
    this.logger.warn(
      { app, revertId: id, cause: req.cause, by: req.actor, from: plan.fromVersion, to: plan.toVersion, hosts: record.hostIds.length, why: plan.why },
      'revert started',
    );
    return this.carryOut(record, revision);
  }

  /** Finishes a revert found under way (an alarm or a rollback met it); called under the app's lock. */
  async finish(entry: Entry<RevertRecord>): Promise<RevertRecord> {
    if (entry.value.status !== 'reverting') return entry.value;
    return (await this.carryOut(entry.value, entry.revision)).revert;
  }

  /** Finishes reverts a controller left half-done (called at start). Never throws. */
  async resume(): Promise<void> {
    let unfinished: Entry<RevertRecord>[];
    try {
      unfinished = await this.opts.store.unfinished();
    } catch (err) {
      this.logger.error({ err }, 'cannot look for reverts left half-done; the next alarm of each app finishes its own');
      return;
    }
    for (const entry of unfinished) {
      const r = entry.value;
      this.logger.warn({ app: r.app, revertId: r.id, to: r.toVersion, hosts: r.hostIds.length }, 'finishing a revert left half-done');
      try {
        await this.opts.rollouts.exclusive(r.app, () => this.finish(entry));
      } catch (err) {
        this.logger.error({ app: r.app, revertId: r.id, err }, 'cannot finish revert; the next alarm or a restart tries again');
      }
    }
  }

  /**
   * The assignments first (every host at once: no download when the release is on disk, no
   * gates), then the ledger (the version left behind bad, the target stable), then the cause's
   * event, then the record says done.
   */
  private carryOut(record: RevertRecord, revision: number): Promise<Reverted> {
    // A failed step's revert resumed by its rollout and by resume() at once is carried out once.
    const running = this.carrying.get(record.id);
    if (running) return running;
    const run = this.carryOutOnce(record, revision).finally(() => this.carrying.delete(record.id));
    this.carrying.set(record.id, run);
    return run;
  }

  private async carryOutOnce(record: RevertRecord, revision: number): Promise<Reverted> {
    const { app, toVersion } = record;
    const ledger = this.opts.ledger;
    const artifact = await ledger.requireArtifact(app, toVersion);
    if (record.hostIds.length > 0) {
      const mutate: AppsMutation = (apps) => ({
        ...apps,
        [app]: { version: toVersion, release: artifact.signed, stableVersion: toVersion },
      });
      await this.opts.assignments.assignMany(record.hostIds, mutate);
      this.logger.info({ app, revertId: record.id, version: toVersion, hosts: record.hostIds.length }, 'hosts reverted');
    }
    if (record.badVersion !== null) await ledger.markBad(app, record.badVersion, record.reason, record.actor);
    await ledger.makeStable(app, toVersion, { sinceMs: record.startedAtMs, by: record.id });
    const cause = record.event;
    // Once: a controller that died after appending it finds it in the log.
    const event = cause
      ? await ledger.appendEvent(cause, (e) => e.revertId === record.id && e.kind === cause.kind && e.atMs === cause.atMs && e.action === cause.action)
      : null;
    const done: RevertRecord = { ...record, status: 'done', finishedAtMs: this.now() };
    try {
      await this.opts.store.write(done, revision);
    } catch (err) {
      // Someone wrote a newer revert meanwhile; this one's work is done all the same.
      if (!(err instanceof ConflictError)) throw err;
    }
    return { revert: done, event };
  }

  /** Hosts whose assignment gives the app a version other than `version`, sorted. */
  hostsOff(app: string, version: string, exclude: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const hostId of this.opts.assignments.hostIds()) {
      if (exclude.has(hostId)) continue;
      const assigned = this.opts.assignments.current(hostId)?.assignment.apps[app];
      if (assigned && assigned.version !== version) out.push(hostId);
    }
    return out.sort();
  }
}
