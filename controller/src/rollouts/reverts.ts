import {
  APP_NAME,
  ConflictError,
  NotFoundError,
  UnavailableError,
  assertAppName,
  assertVersion,
  errorMessage,
  type Logger,
} from '@flotilla/shared';
import type { Alarm, AlarmAction, AlarmOutcome, AlarmSink } from '../alarms/types.js';
import type { AppsMutation } from '../assignments.js';
import { CONFLICT_KIND } from '../errors.js';
import { ROLLOUT_DEFAULTS, isActive, isFinished, type RolloutState } from '../engine/index.js';
import type { Entry, JsonBucket } from '../store/kv.js';
import type { AppRecord, ArtifactRecord, BadVersionRecord } from '../store/records.js';
import { planAlarm, rollbackEpisode, rolloutEpisode, type AlarmPlan, type FinishedRolloutFacts } from './alarm-plan.js';
import { checkActor, type ArtifactLookup, type RolloutAssigner, type RolloutManager } from './manager.js';
import type { AppEventAction, AppEventRecord, RevertCause, RevertRecord } from './records.js';
import type { RolloutStore } from './store.js';

/** The assignment writer, as reverts use it: writes, and each host's current assignment. */
export interface RevertAssigner extends RolloutAssigner {
  hostIds(): string[];
  current(hostId: string):
    | { readonly record: { readonly seq: number }; readonly assignment: { readonly apps: Readonly<Record<string, { readonly version: string }>> } }
    | undefined;
}

export interface RevertManagerOptions {
  rollouts: RolloutManager;
  store: RolloutStore;
  apps: JsonBucket<AppRecord>;
  artifacts: ArtifactLookup;
  assignments: RevertAssigner;
  logger: Logger;
  /** The app's policy: whether an alarm outside any watch window reverts too. @default never */
  revertOutsideWatchWindow?: (app: string) => boolean;
  /**
   * How long alarms change nothing more after a revert that no rollout's watch window bounds
   * (by policy, or a rollback). @default 10m (the default watch window)
   */
  holdMs?: number;
  /** @default Date.now */
  now?: () => number;
}

export interface RollbackRequest {
  app: string;
  /** @default the last stable version (see rollbackTarget) */
  toVersion?: string;
  actor?: string;
  /** Go to a version marked bad all the same. */
  force?: boolean;
}

export interface RollbackResult {
  revert: RevertRecord;
  event: AppEventRecord;
  /** The active rollout the rollback aborted first. */
  abortedRolloutId: string | null;
  /** Every host given the target, with its assignment seq now. */
  assigned: { hostId: string; seq: number }[];
  message: string;
}

/** An alarm's outcome with what the event log keeps beside it. */
type Handled = { -readonly [K in keyof AlarmOutcome]: AlarmOutcome[K] } & {
  revertId?: string;
  fromVersion?: string | null;
  hosts?: number;
};

/** Tries of an alarm that keeps meeting a rollout starting or ending under it. */
const ALARM_ATTEMPTS = 3;

/**
 * What alarms and rollbacks do to an app's fleet. The `AlarmSink` of the alert webhooks and the
 * built-in alarms:
 * - an app with an active rollout: the rollout engine stops it and reverts every host it touched
 *   (RolloutManager.alarmLive); hosts outside it that run another version follow;
 * - otherwise `planAlarm` decides: revert inside the latest rollout's watch window (or outside it,
 *   by policy), else record only.
 * A revert outside the engine writes its record (`revert.<app>`, compare-and-set) BEFORE any
 * assignment: of concurrent alarms, here or in another controller, one writes it and the others
 * find it and change nothing. The version left behind is marked bad; every alarm and rollback
 * goes to the app's event log with what it did.
 */
export class RevertManager implements AlarmSink {
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly holdMs: number;

  constructor(private readonly opts: RevertManagerOptions) {
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    this.holdMs = opts.holdMs ?? ROLLOUT_DEFAULTS.watchWindowMs;
  }

  async knowsApp(app: string): Promise<boolean> {
    if (!APP_NAME.test(app)) return false;
    return (await this.opts.apps.get(app)) !== null;
  }

  async raise(alarm: Alarm): Promise<AlarmOutcome> {
    const app = assertAppName(alarm.app);
    let handled: Handled | null = null;
    // Bounded: a rollout that starts between the two looks sends the alarm round once more.
    for (let attempt = 0; attempt < ALARM_ATTEMPTS && handled === null; attempt++) {
      const live = await this.opts.rollouts.alarmLive(app, alarm.source, alarm.reason);
      if (live) {
        handled = await this.afterLiveAlarm(alarm, live.prior, live.state);
        break;
      }
      handled = await this.opts.rollouts.exclusive(app, async () =>
        this.opts.rollouts.activeRollout(app) ? null : this.outsideRollout(alarm),
      );
    }
    if (handled === null) throw new UnavailableError(`rollouts of ${app} keep starting under the alarm; send it again`);
    const event = await this.opts.store.appendEvent({
      app,
      kind: 'alarm',
      atMs: alarm.receivedAtMs,
      source: alarm.source,
      reason: alarm.reason,
      severity: alarm.severity ?? null,
      summary: { ...alarm.summary },
      action: handled.action,
      rolloutId: handled.rolloutId ?? null,
      revertId: handled.revertId ?? null,
      fromVersion: handled.fromVersion ?? null,
      toVersion: handled.toVersion ?? null,
      hosts: handled.hosts ?? 0,
      message: handled.message ?? null,
      actor: null,
    });
    this.logger.info(
      { app, source: alarm.source, action: handled.action, rolloutId: handled.rolloutId, revertId: handled.revertId, to: handled.toVersion, hosts: handled.hosts, event: event.id },
      'alarm handled',
    );
    const { revertId: _r, fromVersion: _f, hosts: _h, ...outcome } = handled;
    return outcome;
  }

  /** The alarm reached the app's live rollout. */
  private async afterLiveAlarm(alarm: Alarm, prior: RolloutState, state: RolloutState): Promise<Handled> {
    const app = state.spec.app;
    const version = state.spec.version;
    const stable = state.stableVersion;
    const actor = `alarm:${alarm.source}`;
    const revertsToStable = stable !== null && (state.status === 'reverting' || state.status === 'reverted');
    let action: AlarmAction;
    let message: string;
    if (isActive(prior.status)) {
      action = revertsToStable ? 'reverted' : 'stopped';
      message = state.endReason ?? `rollout ${state.id} stopped`;
    } else {
      action = revertsToStable ? 'already-reverting' : 'stopped';
      message = `rollout ${state.id} is already ${state.status}${stable ? ` to ${stable}` : ''}; nothing more done`;
    }
    await this.markBad(app, version, alarm.reason, actor);
    const handled: Handled = { action, rolloutId: state.id, message, fromVersion: version, hosts: 0 };
    if (!revertsToStable) return handled;
    handled.toVersion = stable;
    // The engine reverts the hosts it touched; any other host of the app not on the stable
    // version follows, under a revert record that also makes later alarms about this rollout
    // change nothing.
    const touched = new Set(state.hosts.filter((h) => h.assignedAtMs !== null).map((h) => h.hostId));
    if (action === 'reverted') handled.hosts = touched.size;
    const swept = await this.opts.rollouts.exclusive(app, async () => {
      const entry = await this.opts.store.readRevert(app);
      if (entry?.value.episode === rolloutEpisode(state.id)) {
        if (entry.value.status === 'reverting') await this.carryOut(entry.value, entry.revision);
        return entry.value;
      }
      const plan: AlarmPlan = {
        kind: 'revert',
        episode: rolloutEpisode(state.id),
        fromVersion: version,
        toVersion: stable,
        rolloutId: state.id,
        holdUntilMs: this.now() + state.spec.watchWindowMs,
        why: `alarm during rollout ${state.id}`,
      };
      try {
        return (await this.start(plan, entry, { app, cause: 'alarm', actor, reason: alarm.reason, exclude: touched })).revert;
      } catch (err) {
        if (err instanceof ConflictError) return (await this.opts.store.readRevert(app))?.value ?? null;
        throw err;
      }
    });
    if (swept) {
      handled.revertId = swept.id;
      if (action === 'reverted') handled.hosts = touched.size + swept.hostIds.length;
    }
    return handled;
  }

  /** No rollout of the app is active (called under the app's lock). */
  private async outsideRollout(alarm: Alarm): Promise<Handled> {
    const app = alarm.app;
    const [appEntry, history, revertEntry] = await Promise.all([
      this.opts.apps.get(app),
      this.opts.store.history(app),
      this.opts.store.readRevert(app),
    ]);
    const record = appEntry?.value;
    const plan = planAlarm({
      nowMs: this.now(),
      app,
      stableVersion: record?.stableVersion ?? null,
      previousStableVersion: record?.previousStableVersion ?? null,
      lastRollout: await this.lastFinishedRollout(history.rollouts.at(-1)?.id),
      lastRevert: revertEntry?.value ?? null,
      revertOutsideWatchWindow: this.opts.revertOutsideWatchWindow?.(app) ?? false,
      holdMs: this.holdMs,
    });
    switch (plan.kind) {
      case 'record':
        return { action: 'recorded', message: plan.message, ...(plan.rolloutId ? { rolloutId: plan.rolloutId } : {}) };
      case 'already': {
        const r = revertEntry as Entry<RevertRecord>;
        if (r.value.status === 'reverting') await this.carryOut(r.value, r.revision);
        return { action: 'already-reverting', toVersion: plan.toVersion, revertId: plan.revertId, message: plan.message, ...rolloutOf(r.value) };
      }
      case 'revert': {
        const actor = `alarm:${alarm.source}`;
        let started: { revert: RevertRecord };
        try {
          started = await this.start(plan, revertEntry, { app, cause: 'alarm', actor, reason: alarm.reason });
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
          // Another controller wrote a revert first: it answers this alarm.
          const theirs = (await this.opts.store.readRevert(app))?.value;
          if (!theirs) throw err;
          return { action: 'already-reverting', toVersion: theirs.toVersion, revertId: theirs.id, message: `${app} is reverting to ${theirs.toVersion} (${theirs.id})` };
        }
        const r = started.revert;
        const hosts = r.hostIds.length;
        return {
          action: hosts > 0 ? 'reverted' : 'already-reverting',
          toVersion: r.toVersion,
          revertId: r.id,
          fromVersion: r.fromVersion,
          hosts,
          message:
            hosts > 0
              ? `${plan.why}: reverted ${hosts} host(s) to ${r.toVersion}${r.badVersion ? `; ${r.badVersion} marked bad` : ''}`
              : `${plan.why}: every host of ${app} already runs ${r.toVersion}${r.badVersion ? `; ${r.badVersion} marked bad` : ''}`,
          ...rolloutOf(r),
        };
      }
    }
  }

  /** The app's latest rollout when it has finished, as the alarm rules need it. */
  private async lastFinishedRollout(id: string | undefined): Promise<FinishedRolloutFacts | null> {
    if (id === undefined) return null;
    const state = (await this.opts.store.read(id))?.value;
    if (!state) return null;
    if (!isFinished(state.status)) {
      // Active, yet not driven here (another controller, or one still loading): an alarm must
      // not be filed as "no rollout". 503, and the sender retries.
      throw new UnavailableError(`rollout ${state.id} of ${state.spec.app} is ${state.status} but not driven by this controller; send the alarm again`);
    }
    if (state.finishedAtMs === null) return null;
    return {
      id: state.id,
      version: state.spec.version,
      status: state.status,
      stableVersion: state.stableVersion,
      createdAtMs: state.createdAtMs,
      finishedAtMs: state.finishedAtMs,
      watchWindowMs: state.spec.watchWindowMs ?? ROLLOUT_DEFAULTS.watchWindowMs,
      autoRevert: state.spec.autoRevert,
    };
  }

  // ---- the operator's rollback ----------------------------------------------------------------

  /**
   * `flotilla rollback APP [--to VERSION]`: aborts the app's active rollout, gives every host of
   * the app that is assigned another version the target at once, makes the target the stable
   * version and marks the version left behind bad. The target is `toVersion`, else the last
   * stable version: the active rollout's stable version; or the app's stable version when some
   * host runs another; or, when every host already runs the stable version, the previous stable
   * version.
   */
  async rollback(req: RollbackRequest): Promise<RollbackResult> {
    const app = assertAppName(req.app);
    const actor = `operator:${checkActor(req.actor)}`;
    const asked = req.toVersion?.trim() ? assertVersion(req.toVersion.trim()) : null;
    const appRecord = (await this.opts.apps.get(app))?.value;
    if (!appRecord) throw new NotFoundError(`app "${app}" is unknown: no artifact has been pushed for it`);
    if (asked) await this.requireArtifact(app, asked);

    const live = this.opts.rollouts.activeRollout(app);
    let target: string;
    let from: string | null;
    const exclude = new Set<string>();
    let aborted: string | null = null;
    if (live) {
      const stable = live.stableVersion;
      if (!asked && stable === null) {
        throw new ConflictError(
          `rollout ${live.id} is ${app}'s first release: there is no stable version to go back to; name one with --to VERSION`,
          { details: { kind: CONFLICT_KIND.state } },
        );
      }
      target = asked ?? (stable as string);
      from = live.spec.version === target ? null : live.spec.version;
      await this.refuseBad(appRecord, target, req.force);
      // The engine reverts the hosts it touched when the target is its own stable version;
      // otherwise it leaves them and the revert below moves them with the rest.
      const byEngine = target === stable;
      try {
        await this.opts.rollouts.command(live.id, 'abort', { actor: actor.slice('operator:'.length), ...(byEngine ? {} : { noRevert: true }) });
      } catch (err) {
        // Already reverting or ended meanwhile: the revert below covers whatever is left.
        if (!(err instanceof ConflictError)) throw err;
      }
      aborted = live.id;
      if (byEngine) for (const h of live.hosts) if (h.assignedAtMs !== null) exclude.add(h.hostId);
    } else {
      const stable = appRecord.stableVersion;
      if (asked) {
        target = asked;
      } else if (stable !== null && this.hostsOff(app, stable, new Set()).length > 0) {
        target = stable;
      } else if (appRecord.previousStableVersion) {
        target = appRecord.previousStableVersion;
      } else {
        throw new ConflictError(
          stable === null
            ? `${app} has no stable version to roll back to; name a version with --to VERSION`
            : `every host of ${app} runs its stable version ${stable}, and there is no earlier stable version; name one with --to VERSION`,
          { details: { kind: CONFLICT_KIND.state } },
        );
      }
      from = stable !== null && stable !== target ? stable : null;
      await this.refuseBad(appRecord, target, req.force);
    }
    await this.requireArtifact(app, target);

    const reason = `rollback by ${actor.slice('operator:'.length)}${asked ? ` to ${asked}` : ''}`;
    const revert = await this.opts.rollouts.exclusive(app, async () => {
      // Bounded: a lost compare-and-set (another controller) reads again and writes the next id.
      for (let attempt = 0; attempt < 3; attempt++) {
        const entry = await this.opts.store.readRevert(app);
        const seq = (entry?.value.seq ?? 0) + 1;
        const plan: AlarmPlan = {
          kind: 'revert',
          episode: rollbackEpisode(`${app}-r${seq}`),
          fromVersion: from,
          toVersion: target,
          rolloutId: aborted,
          holdUntilMs: this.now() + this.holdMs,
          why: reason,
        };
        try {
          // Going to a named version says nothing against the stable one it leaves; an aborted
          // rollout's version, or going back, does.
          const keepGood = asked !== null && !(live && from === live.spec.version);
          return (await this.start(plan, entry, { app, cause: 'rollback', actor, reason, exclude, keepGood })).revert;
        } catch (err) {
          if (!(err instanceof ConflictError) || attempt === 2) throw err;
        }
      }
      throw new ConflictError(`cannot record the rollback of ${app}: the revert record keeps changing`, { details: { kind: CONFLICT_KIND.state } });
    });

    const hostIds = [...new Set([...exclude, ...revert.hostIds])].sort();
    const assigned = hostIds.map((hostId) => ({ hostId, seq: this.opts.assignments.current(hostId)?.record.seq ?? 0 }));
    const moved = hostIds.length > 0 || aborted !== null;
    const action: AppEventAction = moved ? 'rolled-back' : 'unchanged';
    const bad = revert.badVersion ? `; ${revert.badVersion} marked bad` : '';
    const message = moved
      ? `${aborted ? `aborted rollout ${aborted}; ` : ''}${hostIds.length} host(s) of ${app} sent to ${target}${bad}`
      : `every host of ${app} already runs ${target}${bad}`;
    const event = await this.opts.store.appendEvent({
      app,
      kind: 'rollback',
      atMs: revert.startedAtMs,
      source: 'operator',
      reason,
      severity: null,
      summary: {},
      action,
      rolloutId: aborted,
      revertId: revert.id,
      fromVersion: from,
      toVersion: target,
      hosts: hostIds.length,
      message,
      actor,
    });
    this.logger.warn({ app, revertId: revert.id, to: target, from, hosts: hostIds.length, aborted, by: actor }, 'rollback');
    return { revert, event, abortedRolloutId: aborted, assigned, message };
  }

  // ---- events ---------------------------------------------------------------------------------

  /** Events, newest first: of one app, or of every app. */
  async events(app?: string, limit = 100): Promise<AppEventRecord[]> {
    const all = app ? await this.opts.store.events(assertAppName(app)) : await this.opts.store.allEvents();
    return all.slice(-Math.max(1, limit)).reverse();
  }

  /** The events that concern one rollout, oldest first. */
  async eventsOf(app: string, rolloutId: string): Promise<AppEventRecord[]> {
    return (await this.opts.store.events(app)).filter((e) => e.rolloutId === rolloutId);
  }

  /** Finishes reverts a controller left half-done (called at start; each step is idempotent). Never throws. */
  async resume(): Promise<void> {
    let unfinished: Entry<RevertRecord>[];
    try {
      unfinished = await this.opts.store.unfinishedReverts();
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, 'cannot look for reverts left half-done; the next alarm of each app finishes its own');
      return;
    }
    for (const entry of unfinished) {
      const r = entry.value;
      this.logger.warn({ app: r.app, revertId: r.id, to: r.toVersion, hosts: r.hostIds.length }, 'finishing a revert left half-done');
      try {
        await this.opts.rollouts.exclusive(r.app, () => this.carryOut(r, entry.revision));
      } catch (err) {
        this.logger.error({ app: r.app, revertId: r.id, err: errorMessage(err) }, 'cannot finish revert; the next alarm or a restart tries again');
      }
    }
  }

  // ---- carrying a revert out ------------------------------------------------------------------

  /**
   * Writes the revert record (compare-and-set against `previous`: a ConflictError means another
   * writer was first), then carries it out. Called under the app's lock.
   */
  private async start(
    plan: Extract<AlarmPlan, { kind: 'revert' }>,
    previous: Entry<RevertRecord> | null,
    how: { app: string; cause: RevertCause; actor: string; reason: string; exclude?: ReadonlySet<string>; keepGood?: boolean },
  ): Promise<{ revert: RevertRecord }> {
    const app = how.app;
    await this.requireArtifact(app, plan.toVersion);
    const seq = (previous?.value.seq ?? 0) + 1;
    const id = `${app}-r${seq}`;
    const record: RevertRecord = {
      app,
      id,
      seq,
      episode: plan.episode.startsWith('rollback:') ? rollbackEpisode(id) : plan.episode,
      cause: how.cause,
      actor: how.actor,
      reason: how.reason,
      fromVersion: plan.fromVersion,
      badVersion: how.keepGood ? null : plan.fromVersion,
      toVersion: plan.toVersion,
      rolloutId: plan.rolloutId,
      hostIds: this.hostsOff(app, plan.toVersion, how.exclude ?? new Set()),
      status: 'reverting',
      startedAtMs: this.now(),
      finishedAtMs: null,
      holdUntilMs: plan.holdUntilMs,
    };
    const revision = await this.opts.store.writeRevert(record, previous?.revision ?? null);
    this.logger.warn(
      { app, revertId: id, cause: how.cause, by: how.actor, from: plan.fromVersion, to: plan.toVersion, hosts: record.hostIds.length, why: plan.why },
      'revert started',
    );
    return { revert: await this.carryOut(record, revision) };
  }

  /**
   * The assignments first (every host at once: no download when the release is on disk, no
   * gates), then the bookkeeping: the target becomes the stable version, the version left
   * behind is marked bad, and the record says done. Every step is idempotent, so a revert found
   * half-done is finished by running this again.
   */
  private async carryOut(record: RevertRecord, revision: number): Promise<RevertRecord> {
    const { app, toVersion } = record;
    const artifact = await this.requireArtifact(app, toVersion);
    if (record.hostIds.length > 0) {
      const mutate: AppsMutation = (apps) => ({
        ...apps,
        [app]: { version: toVersion, release: artifact.signed, stableVersion: toVersion },
      });
      await this.opts.assignments.assignMany(record.hostIds, mutate);
      this.logger.info({ app, revertId: record.id, version: toVersion, hosts: record.hostIds.length }, 'hosts reverted');
    }
    if (record.badVersion !== null) await this.markBad(app, record.badVersion, record.reason, record.actor);
    await this.makeStable(app, toVersion, record);
    const done: RevertRecord = { ...record, status: 'done', finishedAtMs: this.now() };
    try {
      await this.opts.store.writeRevert(done, revision);
    } catch (err) {
      // Someone wrote a newer revert meanwhile; this one's work is done all the same.
      if (!(err instanceof ConflictError)) throw err;
    }
    return done;
  }

  /**
   * The target becomes the app's stable version (bad no more, if it was forced); the previous
   * stable one is worked out again from the stable history.
   */
  private async makeStable(app: string, version: string, record: RevertRecord): Promise<void> {
    const history = await this.opts.store.history(app);
    let changed = false;
    await this.opts.apps.updateWithRetry(app, (current) => {
      changed = false;
      if (!current || current.value.stableVersion === version) return undefined;
      const bad = new Set((current.value.badVersions ?? []).map((b) => b.version));
      // The most recent earlier stable version that is neither the new one nor bad.
      const previous =
        [...history.stable].reverse().find((p) => p.version !== version && !bad.has(p.version) && p.version !== record.badVersion)?.version ?? null;
      changed = true;
      return {
        ...current.value,
        stableVersion: version,
        stableSinceMs: record.startedAtMs,
        previousStableVersion: previous,
        // A version forced back into service is bad no more.
        badVersions: (current.value.badVersions ?? []).filter((b) => b.version !== version),
      };
    });
    if (changed) await this.opts.store.recordStable(app, version, record.startedAtMs, record.id);
  }

  /** Marks a version bad (idempotent: the first mark stays). */
  private async markBad(app: string, version: string, reason: string, by: string): Promise<void> {
    const mark: BadVersionRecord = { version, atMs: this.now(), reason: reason.slice(0, 512), by };
    await this.opts.apps.updateWithRetry(app, (current) => {
      if (!current || (current.value.badVersions ?? []).some((b) => b.version === version)) return undefined;
      return { ...current.value, badVersions: [...(current.value.badVersions ?? []), mark] };
    });
  }

  private async refuseBad(record: AppRecord, version: string, force: boolean | undefined): Promise<void> {
    const bad = record.badVersions?.find((b) => b.version === version);
    if (!bad || force) return;
    throw new ConflictError(
      `${record.name}@${version} is marked bad (${bad.by}, ${new Date(bad.atMs).toISOString()}: ${bad.reason}); pass --force to go to it all the same`,
      { details: { kind: CONFLICT_KIND.state, badVersion: version } },
    );
  }

  /** Hosts whose assignment gives the app a version other than `version`, sorted. */
  private hostsOff(app: string, version: string, exclude: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const hostId of this.opts.assignments.hostIds()) {
      if (exclude.has(hostId)) continue;
      const assigned = this.opts.assignments.current(hostId)?.assignment.apps[app];
      if (assigned && assigned.version !== version) out.push(hostId);
    }
    return out.sort();
  }

  private async requireArtifact(app: string, version: string): Promise<ArtifactRecord> {
    const artifact = await this.opts.artifacts.get(app, version);
    if (artifact) return artifact;
    const known = (await this.opts.artifacts.list(app)).map((a) => a.version);
    if (known.length === 0) throw new NotFoundError(`app "${app}" has no artifacts: push one first (flotilla artifact push)`);
    throw new NotFoundError(`app "${app}" has no artifact for version "${version}" (known versions: ${known.join(', ')})`);
  }
}

function rolloutOf(r: RevertRecord): { rolloutId?: string } {
  return r.rolloutId ? { rolloutId: r.rolloutId } : {};
}
