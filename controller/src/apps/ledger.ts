import type { KV } from '@nats-io/kv';
import type { z } from 'zod';
import { APP_NAME, ConflictError, NotFoundError, type Logger } from '@flotilla/shared';
import { KeyedMutex } from '../concurrency.js';
import type { RolloutState } from '../engine/index.js';
import { CONFLICT_KIND } from '../errors.js';
import { JsonBucket } from '../store/kv.js';
import { BUCKETS, type AppRecord, type ArtifactRecord, type BadVersionRecord } from '../store/records.js';
import {
  EVENTS_KEPT,
  HISTORY_ROLLOUTS_KEPT,
  HISTORY_STABLE_KEPT,
  eventsKey,
  historyKey,
  ledgerSchemas,
  summarise,
  type AppEventRecord,
  type AppEventsRecord,
  type AppHistoryRecord,
  type NewAppEvent,
  type RolloutSummaryRecord,
} from './records.js';
import { appHistory, type AppHistory } from './history-view.js';
import { previousStable } from './stable-rule.js';

/** Stored artifacts' records: the artifact store. */
export interface ArtifactLookup {
  get(app: string, version: string): Promise<ArtifactRecord | null>;
  list(app?: string): Promise<ArtifactRecord[]>;
}

export interface AppLedgerOptions {
  /** `flotilla_apps`: each app's stable, previous stable and bad versions. */
  apps: JsonBucket<AppRecord>;
  /** `flotilla_rollouts`, where the ledger keeps `history.<app>` and `events.<app>`. */
  rolloutsKv: KV;
  artifacts: ArtifactLookup;
  logger?: Logger;
  /** @default Date.now */
  now?: () => number;
}

/** What `refuseBad` is asked about, for its message: a rollout, or a revert or rollback. */
export type BadUse = 'rollout' | 'revert';

/** How a version became stable: when, and which rollout or revert made it so. */
export interface StableBy {
  sinceMs: number;
  /** A rollout id, or a revert id. */
  by: string;
}

function emptyHistory(app: string): AppHistoryRecord {
  return { app, lastSeq: 0, stable: [], rollouts: [] };
}

/**
 * The app ledger: the one writer of the facts about an app's versions. Which artifacts exist
 * (read from the artifact store), which version is stable and which was before it (one rule,
 * stable-rule.ts), which are bad, the app's history (rollout summaries, stable periods, the
 * rollout id counter) and its event log. Rollouts and reverts ask it; nothing else writes these
 * keys. Every write is a compare-and-set read-modify-write and idempotent, so that a finish or a
 * revert cut short by a crash is completed by running it again.
 */
export class AppLedger {
  private readonly apps: JsonBucket<AppRecord>;
  private readonly historyBucket: JsonBucket<AppHistoryRecord>;
  private readonly eventsBucket: JsonBucket<AppEventsRecord>;
  /** Appends to one app's event log queue here, so that a storm of alarms does not race itself on KV. */
  private readonly appends = new KeyedMutex();
  private readonly now: () => number;

  constructor(private readonly opts: AppLedgerOptions) {
    const name = BUCKETS.rollouts;
    this.apps = opts.apps;
    this.historyBucket = new JsonBucket(name, opts.rolloutsKv, ledgerSchemas.history as unknown as z.ZodType<AppHistoryRecord>, opts.logger);
    this.eventsBucket = new JsonBucket(name, opts.rolloutsKv, ledgerSchemas.events as unknown as z.ZodType<AppEventsRecord>, opts.logger);
    this.now = opts.now ?? Date.now;
  }

  // ---- versions -------------------------------------------------------------------------------

  async record(app: string): Promise<AppRecord | null> {
    return (await this.apps.get(app))?.value ?? null;
  }

  /** Whether the app has a record (an artifact was pushed for it). */
  async knows(app: string): Promise<boolean> {
    if (!APP_NAME.test(app)) return false;
    return (await this.apps.get(app)) !== null;
  }

  async stableVersion(app: string): Promise<string | null> {
    return (await this.record(app))?.stableVersion ?? null;
  }

  /** The artifact of `app@version`, or NotFoundError naming the versions there are. */
  async requireArtifact(app: string, version: string): Promise<ArtifactRecord> {
    const artifact = await this.opts.artifacts.get(app, version);
    if (artifact) return artifact;
    const known = (await this.opts.artifacts.list(app)).map((a) => a.version);
    if (known.length === 0) throw new NotFoundError(`app "${app}" has no artifacts: push one first (flotilla artifact push)`);
    throw new NotFoundError(`app "${app}" has no artifact for version "${version}" (known versions: ${known.join(', ')})`);
  }

  /** Refuses a version marked bad (ConflictError naming why), unless the caller forces it. */
  async refuseBad(app: string, version: string, use: BadUse, force = false): Promise<void> {
    if (force) return;
    const bad = (await this.record(app))?.badVersions?.find((b) => b.version === version);
    if (!bad) return;
    const how = use === 'rollout' ? 'roll it out' : 'go to it';
    throw new ConflictError(
      `${app}@${version} is marked bad (${bad.by}, ${new Date(bad.atMs).toISOString()}: ${bad.reason}); pass --force to ${how} all the same`,
      { details: { kind: CONFLICT_KIND.state, badVersion: version } },
    );
  }

  /** Marks a version bad (idempotent: the first mark stays). */
  async markBad(app: string, version: string, reason: string, by: string): Promise<void> {
    const mark: BadVersionRecord = { version, atMs: this.now(), reason: reason.slice(0, 512), by };
    await this.apps.updateWithRetry(app, (current) => {
      if (!current || (current.value.badVersions ?? []).some((b) => b.version === version)) return undefined;
      return { ...current.value, badVersions: [...(current.value.badVersions ?? []), mark] };
    });
  }

  /**
   * Makes `version` the app's stable version (idempotent): the previous stable version follows
   * the one rule (stable-rule.ts), a version forced back into service is bad no more, and the
   * stable period goes into the history.
   */
  async makeStable(app: string, version: string, how: StableBy): Promise<void> {
    const history = await this.history(app);
    await this.apps.updateWithRetry(app, (current) => {
      if (current?.value.stableVersion === version) return undefined;
      const record: AppRecord = current?.value ?? { name: app, stableVersion: null, stableSinceMs: null, createdAtMs: how.sinceMs };
      const badVersions = record.badVersions ?? [];
      return {
        ...record,
        stableVersion: version,
        stableSinceMs: how.sinceMs,
        previousStableVersion: previousStable({
          current: record.stableVersion,
          periods: history.stable,
          next: version,
          bad: new Set(badVersions.map((b) => b.version)),
        }),
        badVersions: badVersions.filter((b) => b.version !== version),
      };
    });
    await this.recordStable(app, version, how);
  }

  /** The stable period in the history (idempotent: a period of the same version still open stays). */
  private async recordStable(app: string, version: string, how: StableBy): Promise<void> {
    await this.historyBucket.updateWithRetry(historyKey(app), (current) => {
      const record = current?.value ?? emptyHistory(app);
      const last = record.stable[record.stable.length - 1];
      if (last && last.version === version && last.untilMs === null) return undefined;
      const stable = record.stable.map((p) => (p.untilMs === null ? { ...p, untilMs: how.sinceMs } : p));
      stable.push({ version, sinceMs: how.sinceMs, untilMs: null, rolloutId: how.by });
      return { ...record, stable: stable.slice(-HISTORY_STABLE_KEPT) };
    });
  }

  // ---- history --------------------------------------------------------------------------------

  /** Hands out the app's next rollout number (ids are `<app>-<n>`). */
  async nextRolloutSeq(app: string): Promise<number> {
    let seq = 0;
    await this.historyBucket.updateWithRetry(historyKey(app), (current) => {
      const record = current?.value ?? emptyHistory(app);
      seq = record.lastSeq + 1;
      return { ...record, lastSeq: seq };
    });
    return seq;
  }

  /** Records (or refreshes) the rollout's summary in its app's history. */
  async recordSummary(state: RolloutState): Promise<void> {
    const summary = summarise(state);
    await this.historyBucket.updateWithRetry(historyKey(summary.app), (current) => {
      const record = current?.value ?? emptyHistory(summary.app);
      const known = record.rollouts.some((r) => r.id === summary.id);
      const rollouts = known ? record.rollouts.map((r) => (r.id === summary.id ? summary : r)) : [...record.rollouts, summary];
      return { ...record, rollouts: rollouts.slice(-HISTORY_ROLLOUTS_KEPT) };
    });
  }

  async history(app: string): Promise<AppHistoryRecord> {
    return (await this.historyBucket.get(historyKey(app)))?.value ?? emptyHistory(app);
  }

  async histories(): Promise<AppHistoryRecord[]> {
    return (await this.historyBucket.list('history.*')).map((e) => e.value);
  }

  /**
   * An app's versions (stable when, and through which rollout) and how its rollouts ended;
   * `rollouts` lists them (the ones being driven are more current than their history entry).
   */
  async describe(app: string, rollouts: () => Promise<RolloutSummaryRecord[]>): Promise<AppHistory> {
    const [history, record, artifacts] = await Promise.all([this.history(app), this.record(app), this.opts.artifacts.list(app)]);
    if (!record && artifacts.length === 0 && history.rollouts.length === 0) {
      throw new NotFoundError(`app "${app}" is unknown: no artifact has been pushed for it`);
    }
    return appHistory(app, record, artifacts, history, await rollouts());
  }

  // ---- the event log --------------------------------------------------------------------------

  /**
   * Appends an event to the app's log (the oldest fall off past EVENTS_KEPT) and returns it with
   * its id. With `once`, an event the log already holds (the same revert's, appended before a
   * crash) is returned as stored rather than appended again. Appends for one app queue in this
   * process; other writers are met with compare-and-set.
   */
  appendEvent(event: NewAppEvent, once?: (logged: AppEventRecord) => boolean): Promise<AppEventRecord> {
    const app = event.app;
    return this.appends.run(app, async () => {
      let stored: AppEventRecord | undefined;
      await this.eventsBucket.updateWithRetry(eventsKey(app), (current) => {
        const record = current?.value ?? { app, lastSeq: 0, events: [] };
        stored = once ? record.events.find(once) : undefined;
        if (stored) return undefined;
        const seq = record.lastSeq + 1;
        stored = { ...event, id: `${app}-e${seq}` };
        return { app, lastSeq: seq, events: [...record.events, stored].slice(-EVENTS_KEPT) };
      });
      return stored as AppEventRecord;
    });
  }

  /** The app's events, oldest first. */
  async events(app: string): Promise<AppEventRecord[]> {
    return (await this.eventsBucket.get(eventsKey(app)))?.value.events ?? [];
  }

  /** Events, newest first: of one app, or of every app. */
  async recentEvents(app?: string, limit = 100): Promise<AppEventRecord[]> {
    const all = app ? await this.events(app) : await this.allEvents();
    return all.slice(-Math.max(1, limit)).reverse();
  }

  /** The events that concern one rollout, oldest first. */
  async eventsOf(app: string, rolloutId: string): Promise<AppEventRecord[]> {
    return (await this.events(app)).filter((e) => e.rolloutId === rolloutId);
  }

  /** Every app's events, oldest first by time. */
  async allEvents(): Promise<AppEventRecord[]> {
    const all = (await this.eventsBucket.list('events.*')).flatMap((e) => e.value.events);
    return all.sort((a, b) => a.atMs - b.atMs || (a.id < b.id ? -1 : 1));
  }
}
