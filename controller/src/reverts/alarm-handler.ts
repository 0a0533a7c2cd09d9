import { ConflictError, UnavailableError, assertAppName, type Logger } from '@flotilla/shared';
import type { AppLedger } from '../apps/ledger.js';
import type { AppEventRecord, NewAppEvent } from '../apps/records.js';
import type { Alarm, AlarmAction, AlarmOutcome, AlarmSink } from '../alarms/types.js';
import { ROLLOUT_DEFAULTS, isActive, isFinished, type RolloutState } from '../engine/index.js';
import { planAlarm, rolloutEpisode, type FinishedRolloutFacts } from './alarm-plan.js';
import type { RevertRecord } from './records.js';
import type { RevertPath } from './revert-path.js';
import type { RolloutTriggers } from './triggers.js';

/** What alarms ask of the app ledger. */
export type AlarmLedger = Pick<AppLedger, 'knows' | 'record' | 'history' | 'markBad' | 'appendEvent'>;

export interface AlarmHandlerOptions {
  rollouts: RolloutTriggers;
  ledger: AlarmLedger;
  reverts: RevertPath;
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

/** An alarm's outcome with what the event log keeps beside it. */
interface Handled {
  action: AlarmAction;
  rolloutId?: string;
  toVersion?: string;
  message?: string;
  revertId?: string;
  fromVersion?: string | null;
  hosts?: number;
  /** Set when the revert the alarm caused logged it already (in its record, then the log). */
  logged?: AppEventRecord | null;
}

/**
 * What an alarm does to an app's fleet: the `AlarmSink` of the alert webhooks and the built-in
 * alarms. An app with an active rollout: the rollout engine stops it and reverts the hosts it
 * touched (`alarmLive`), and the revert path moves the app's other hosts off the stable version.
 * Otherwise `planAlarm` (pure) decides from the ledger and the revert record: revert inside the
 * latest rollout's watch window (or outside it, by policy), else record only. The version left
 * behind is marked bad; every alarm goes to the app's event log with what it did — an alarm that
 * started a revert in the revert's own record, before any host is moved.
 */
export class AlarmHandler implements AlarmSink {
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly holdMs: number;

  constructor(private readonly opts: AlarmHandlerOptions) {
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    this.holdMs = opts.holdMs ?? ROLLOUT_DEFAULTS.watchWindowMs;
  }

  knowsApp(app: string): Promise<boolean> {
    return this.opts.ledger.knows(app);
  }

  async raise(alarm: Alarm): Promise<AlarmOutcome> {
    const app = assertAppName(alarm.app);
    const { rollouts } = this.opts;
    // Under the app's lock from the first look to the last write: no rollout of the app starts,
    // and no other revert of it runs, while this alarm is handled. The live rollout's own loop
    // takes no such lock, so it decides the alarm meanwhile.
    const handled = await rollouts.exclusive(app, async () => {
      const live = await rollouts.alarmLive(app, alarm.source, alarm.reason);
      return live ? this.duringRollout(alarm, live.prior, live.state) : this.outsideRollout(alarm);
    });
    const event = handled.logged ?? (await this.opts.ledger.appendEvent(alarmEvent(alarm, handled)));
    this.logger.info(
      { app, source: alarm.source, action: handled.action, rolloutId: handled.rolloutId, revertId: handled.revertId, to: handled.toVersion, hosts: handled.hosts, event: event.id },
      'alarm handled',
    );
    return {
      action: handled.action,
      ...(handled.rolloutId !== undefined ? { rolloutId: handled.rolloutId } : {}),
      ...(handled.toVersion !== undefined ? { toVersion: handled.toVersion } : {}),
      ...(handled.message !== undefined ? { message: handled.message } : {}),
    };
  }

  /** The alarm reached the app's live rollout. */
  private async duringRollout(alarm: Alarm, prior: RolloutState, state: RolloutState): Promise<Handled> {
    const app = state.spec.app;
    const version = state.spec.version;
    const stable = state.stableVersion;
    const actor = `alarm:${alarm.source}`;
    const markBad = () => this.opts.ledger.markBad(app, version, alarm.reason, actor);
    const revertsToStable = stable !== null && (state.status === 'reverting' || state.status === 'reverted');
    if (!revertsToStable) {
      const message = isActive(prior.status)
        ? (state.endReason ?? `rollout ${state.id} stopped`)
        : `rollout ${state.id} is already ${state.status}${stable ? ` to ${stable}` : ''}; nothing more done`;
      await markBad();
      return { action: 'stopped', rolloutId: state.id, message, fromVersion: version, hosts: 0 };
    }
    const reverts = this.opts.reverts;
    const episode = rolloutEpisode(state.id);
    const entry = await reverts.read(app);
    // The alarm that made the engine revert never reached the log (see `unlogged`): this one,
    // most likely the sender's retry of it, answers for that revert.
    const orphan = !isActive(prior.status) && unlogged(state, entry?.value ?? null);
    const causedIt = isActive(prior.status) || orphan;
    const endReason = state.endReason ?? `rollout ${state.id} stopped`;
    const handled: Handled = causedIt
      ? {
          action: 'reverted',
          rolloutId: state.id,
          message: orphan ? `${endReason} (logged with this alarm: the controller stopped before it logged the one that caused it)` : endReason,
          fromVersion: version,
          hosts: 0,
        }
      : {
          action: 'already-reverting',
          rolloutId: state.id,
          message: `rollout ${state.id} is already ${state.status} to ${stable}; nothing more done`,
          fromVersion: version,
          hosts: 0,
        };
    handled.toVersion = stable;
    // The engine reverts the hosts it touched; any other host of the app not on the stable
    // version follows, under a revert record that also makes later alarms about this rollout
    // change nothing.
    const touched = touchedBy(state);
    const hostsOf = (r: RevertRecord) => (causedIt ? touched.size + r.hostIds.length : 0);
    if (causedIt) handled.hosts = touched.size;
    let swept: RevertRecord | null;
    try {
      if (entry?.value.episode === episode) {
        swept = await reverts.finish(entry);
      } else {
        const done = await reverts.start({
          plan: {
            kind: 'revert',
            episode,
            fromVersion: version,
            toVersion: stable,
            rolloutId: state.id,
            holdUntilMs: this.now() + state.spec.watchWindowMs,
            why: `alarm during rollout ${state.id}`,
          },
          previous: entry,
          app,
          cause: 'alarm',
          actor,
          reason: alarm.reason,
          exclude: touched,
          event: (r) => alarmEvent(alarm, { ...handled, revertId: r.id, hosts: hostsOf(r) }),
        });
        // The revert marked the version bad as it went, and logged this alarm.
        swept = done.revert;
        handled.logged = done.event;
      }
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      swept = (await reverts.read(app))?.value ?? null;
    }
    if (handled.logged === undefined) await markBad();
    if (swept) {
      handled.revertId = swept.id;
      if (causedIt) handled.hosts = hostsOf(swept);
    }
    return handled;
  }

  /** No rollout of the app is active. */
  private async outsideRollout(alarm: Alarm): Promise<Handled> {
    const app = alarm.app;
    const { ledger, reverts } = this.opts;
    const [record, history, revertEntry] = await Promise.all([ledger.record(app), ledger.history(app), reverts.read(app)]);
    const last = await this.lastFinishedRollout(history.rollouts.at(-1)?.id);
    const plan = planAlarm({
      nowMs: this.now(),
      app,
      stableVersion: record?.stableVersion ?? null,
      previousStableVersion: record?.previousStableVersion ?? null,
      lastRollout: last ? factsOf(last) : null,
      lastRevert: revertEntry?.value ?? null,
      revertOutsideWatchWindow: this.opts.revertOutsideWatchWindow?.(app) ?? false,
      holdMs: this.holdMs,
    });
    switch (plan.kind) {
      case 'record':
        return { action: 'recorded', message: plan.message, ...(plan.rolloutId ? { rolloutId: plan.rolloutId } : {}) };
      case 'already': {
        // A revert under way is finished first: its own event goes into the log before this one.
        const r = await reverts.finish(revertEntry as NonNullable<typeof revertEntry>);
        return {
          action: 'already-reverting',
          toVersion: plan.toVersion,
          revertId: plan.revertId,
          fromVersion: r.fromVersion,
          message: plan.message,
          ...rolloutOf(r),
        };
      }
      case 'revert': {
        // The engine reverted the rollout for an alarm that never reached the log (see
        // `unlogged`): this alarm answers for that revert and the hosts it moved.
        const orphan = last !== null && last.id === plan.rolloutId && last.status === 'reverted' && unlogged(last, revertEntry?.value ?? null);
        const engineMoved = orphan ? touchedBy(last).size : 0;
        const describe = (r: RevertRecord): Handled => {
          const hosts = engineMoved + r.hostIds.length;
          const bad = r.badVersion ? `; ${r.badVersion} marked bad` : '';
          const message = orphan
            ? `${last.endReason ?? `rollout ${last.id} reverted`}${bad} (logged with this alarm: the controller stopped before it logged the one that caused it)`
            : hosts > 0
              ? `${plan.why}: reverted ${hosts} host(s) to ${r.toVersion}${bad}`
              : `${plan.why}: every host of ${app} already runs ${r.toVersion}${bad}`;
          return {
            action: hosts > 0 || orphan ? 'reverted' : 'already-reverting',
            toVersion: r.toVersion,
            revertId: r.id,
            fromVersion: r.fromVersion,
            hosts,
            message,
            ...rolloutOf(r),
          };
        };
        try {
          const done = await reverts.start({
            plan,
            previous: revertEntry,
            app,
            cause: 'alarm',
            actor: `alarm:${alarm.source}`,
            reason: alarm.reason,
            event: (r) => alarmEvent(alarm, describe(r)),
          });
          return { ...describe(done.revert), logged: done.event };
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
          // Another controller wrote a revert first: it answers this alarm.
          const theirs = (await reverts.read(app))?.value;
          if (!theirs) throw err;
          return {
            action: 'already-reverting',
            toVersion: theirs.toVersion,
            revertId: theirs.id,
            fromVersion: theirs.fromVersion,
            message: `${app} is reverting to ${theirs.toVersion} (${theirs.id})`,
          };
        }
      }
    }
  }

  /** The app's latest rollout when it has finished (null: none, or it never ended). */
  private async lastFinishedRollout(id: string | undefined): Promise<RolloutState | null> {
    if (id === undefined) return null;
    const state = await this.opts.rollouts.stored(id);
    if (!state) return null;
    if (!isFinished(state.status)) {
      // Active, yet not driven here (another controller, or one still loading): an alarm must
      // not be filed as "no rollout". 503, and the sender retries.
      throw new UnavailableError(`rollout ${state.id} of ${state.spec.app} is ${state.status} but not driven by this controller; send the alarm again`);
    }
    return state.finishedAtMs === null ? null : state;
  }
}

/** A finished rollout as the alarm rules need it. */
function factsOf(state: RolloutState): FinishedRolloutFacts {
  return {
    id: state.id,
    version: state.spec.version,
    status: state.status,
    stableVersion: state.stableVersion,
    createdAtMs: state.createdAtMs,
    finishedAtMs: state.finishedAtMs as number,
    watchWindowMs: state.spec.watchWindowMs ?? ROLLOUT_DEFAULTS.watchWindowMs,
    autoRevert: state.spec.autoRevert,
  };
}

/** The hosts a rollout assigned: the ones its engine reverts. */
function touchedBy(state: RolloutState): Set<string> {
  return new Set(state.hosts.filter((h) => h.assignedAtMs !== null).map((h) => h.hostId));
}

/**
 * Whether the engine reverted this rollout for an alarm that is not in the event log. Every
 * alarm that makes the engine revert writes the rollout's revert record, carrying its event,
 * under the app's lock before letting go of it; a rollout reverted by an alarm with no revert
 * written since it started means the controller died in between.
 */
function unlogged(state: RolloutState, revert: RevertRecord | null): boolean {
  if (state.endedBy?.startsWith('alarm:') !== true) return false;
  return revert === null || (revert.episode !== rolloutEpisode(state.id) && revert.startedAtMs < state.createdAtMs);
}

/** The alarm as the event log keeps it, with what it did. */
function alarmEvent(alarm: Alarm, handled: Handled): NewAppEvent {
  return {
    app: alarm.app,
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
  };
}

function rolloutOf(r: RevertRecord): { rolloutId?: string } {
  return r.rolloutId ? { rolloutId: r.rolloutId } : {};
}
