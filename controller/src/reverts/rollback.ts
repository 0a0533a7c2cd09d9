import { ConflictError, NotFoundError, assertAppName, assertVersion, type Logger } from '@flotilla/shared';
import type { AppLedger } from '../apps/ledger.js';
import type { AppEventAction, AppEventRecord } from '../apps/records.js';
import { ROLLOUT_DEFAULTS } from '../engine/index.js';
import { CONFLICT_KIND } from '../errors.js';
import { checkActor } from '../rollouts/operator.js';
import { rollbackEpisode } from './alarm-plan.js';
import type { RevertRecord } from './records.js';
import type { RevertAssigner, RevertPath } from './revert-path.js';
import type { RolloutTriggers } from './triggers.js';

/** What a rollback asks of the app ledger. */
export type RollbackLedger = Pick<AppLedger, 'record' | 'requireArtifact' | 'refuseBad'>;

export interface RollbacksOptions {
  rollouts: RolloutTriggers;
  ledger: RollbackLedger;
  reverts: RevertPath;
  assignments: Pick<RevertAssigner, 'current'>;
  logger: Logger;
  /** How long alarms change nothing more after a rollback. @default 10m (the default watch window) */
  holdMs?: number;
  /** @default Date.now */
  now?: () => number;
}

export interface RollbackRequest {
  app: string;
  /** @default the last stable version (see `rollback`) */
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

/** `flotilla rollback`: works out the target, aborts the app's active rollout, then takes the revert path. */
export class Rollbacks {
  private readonly now: () => number;
  private readonly holdMs: number;

  constructor(private readonly opts: RollbacksOptions) {
    this.now = opts.now ?? Date.now;
    this.holdMs = opts.holdMs ?? ROLLOUT_DEFAULTS.watchWindowMs;
  }

  /**
   * Aborts the app's active rollout, gives every host of the app that is assigned another
   * version the target at once, makes the target the stable version and marks the version left
   * behind bad. The target is `toVersion`, else the last stable version: the active rollout's
   * stable version; or the app's stable version when some host runs another; or, when every
   * host already runs the stable version, the previous stable version.
   */
  async rollback(req: RollbackRequest): Promise<RollbackResult> {
    const { ledger, rollouts, reverts } = this.opts;
    const app = assertAppName(req.app);
    const name = checkActor(req.actor);
    const actor = `operator:${name}`;
    const asked = req.toVersion?.trim() ? assertVersion(req.toVersion.trim()) : null;
    const appRecord = await ledger.record(app);
    if (!appRecord) throw new NotFoundError(`app "${app}" is unknown: no artifact has been pushed for it`);
    if (asked) await ledger.requireArtifact(app, asked);

    const live = rollouts.activeRollout(app);
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
      await ledger.refuseBad(app, target, 'revert', req.force);
      // The engine reverts the hosts it touched when the target is its own stable version;
      // otherwise it leaves them and the revert below moves them with the rest.
      const byEngine = target === stable;
      try {
        await rollouts.command(live.id, 'abort', { actor: name, ...(byEngine ? {} : { noRevert: true }) });
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
      } else if (stable !== null && reverts.hostsOff(app, stable, new Set()).length > 0) {
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
      await ledger.refuseBad(app, target, 'revert', req.force);
    }
    await ledger.requireArtifact(app, target);

    const reason = `rollback by ${name}${asked ? ` to ${asked}` : ''}`;
    // Going to a named version says nothing against the stable one it leaves; an aborted
    // rollout's version, or going back, does.
    const keepGood = asked !== null && !(live && from === live.spec.version);
    const moved = (r: RevertRecord) => [...new Set([...exclude, ...r.hostIds])].sort();
    const describe = (r: RevertRecord) => {
      const hostIds = moved(r);
      const changed = hostIds.length > 0 || aborted !== null;
      const bad = r.badVersion ? `; ${r.badVersion} marked bad` : '';
      return {
        hostIds,
        action: (changed ? 'rolled-back' : 'unchanged') as AppEventAction,
        message: changed
          ? `${aborted ? `aborted rollout ${aborted}; ` : ''}${hostIds.length} host(s) of ${app} sent to ${target}${bad}`
          : `every host of ${app} already runs ${target}${bad}`,
      };
    };
    const done = await rollouts.exclusive(app, async () => {
      // Again under the app's lock, where artifact retention deletes: the target may have gone.
      await ledger.requireArtifact(app, target);
      // Bounded: a lost compare-and-set (another controller) reads again and writes the next id.
      for (let attempt = 0; attempt < 3; attempt++) {
        const entry = await reverts.read(app);
        const seq = (entry?.value.seq ?? 0) + 1;
        try {
          return await reverts.start({
            plan: {
              kind: 'revert',
              episode: rollbackEpisode(`${app}-r${seq}`),
              fromVersion: from,
              toVersion: target,
              rolloutId: aborted,
              holdUntilMs: this.now() + this.holdMs,
              why: reason,
            },
            previous: entry,
            app,
            cause: 'rollback',
            actor,
            reason,
            exclude,
            keepGood,
            event: (r) => {
              const { hostIds, action, message } = describe(r);
              return {
                app,
                kind: 'rollback',
                atMs: r.startedAtMs,
                source: 'operator',
                reason,
                severity: null,
                summary: {},
                action,
                rolloutId: aborted,
                revertId: r.id,
                fromVersion: from,
                toVersion: target,
                hosts: hostIds.length,
                message,
                actor,
              };
            },
          });
        } catch (err) {
          if (!(err instanceof ConflictError) || attempt === 2) throw err;
        }
      }
      throw new ConflictError(`cannot record the rollback of ${app}: the revert record keeps changing`, { details: { kind: CONFLICT_KIND.state } });
    });

    const { revert } = done;
    const { hostIds, message } = describe(revert);
    const assigned = hostIds.map((hostId) => ({ hostId, seq: this.opts.assignments.current(hostId)?.record.seq ?? 0 }));
    this.opts.logger.warn({ app, revertId: revert.id, to: target, from, hosts: hostIds.length, aborted, by: actor }, 'rollback');
    return { revert, event: done.event as AppEventRecord, abortedRolloutId: aborted, assigned, message };
  }
}
