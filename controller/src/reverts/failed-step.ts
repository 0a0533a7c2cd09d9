import { ConflictError, InternalError, type Logger } from '@flotilla/shared';
import type { NewAppEvent } from '../apps/records.js';
import type { RolloutState } from '../engine/index.js';
import type { FailedStepReverts } from '../rollouts/types.js';
import { failedStepEpisode } from './alarm-plan.js';
import type { RevertRecord } from './records.js';
import type { RevertPath } from './revert-path.js';

/** Tries at writing the record when another writer (an alarm) keeps winning the compare-and-set. */
const RECORD_TRIES = 3;

/**
 * A rollout's failed step as a cause of the one revert path: the third source beside alarms
 * (alarm-handler.ts) and rollbacks (rollback.ts). The engine decided the revert (the rollout is
 * `reverting`, ended by `engine`); this writes its record, `cause: failed-step`, then the revert
 * path moves the hosts the rollout touched, logs the event and marks the record done.
 *
 * The record leaves later alarms judged as before: its episode is the failed step's own
 * (`failed-step:<rollout>`, which no alarm's episode equals), its hold ends as it starts, and it
 * marks nothing bad (a failed gate says the version failed on the hosts tried, which an operator
 * may fix; an alarm about the version is what marks it bad).
 */
export class FailedStepReverter implements FailedStepReverts {
  constructor(
    private readonly deps: {
      /**
       * The revert path, asked for when a step fails: the path is built after the rollouts it
       * stops (it needs them, and they need this), so it is reached through its owner.
       */
      readonly reverts: () => Pick<RevertPath, 'read' | 'start' | 'finish'>;
      readonly logger: Logger;
      readonly now: () => number;
    },
  ) {}

  async revertFailedStep(state: RolloutState, hostIds: readonly string[]): Promise<readonly string[] | null> {
    const reverts = this.deps.reverts();
    const app = state.spec.app;
    const toVersion = state.stableVersion;
    // Reverted already: a failed step that touched no host ends in the batch that started it.
    if (toVersion === null || (state.status !== 'reverting' && state.status !== 'reverted') || state.endedBy !== 'engine') {
      throw new InternalError(`rollout ${state.id} is not reverting a failed step (${state.status}, ended by ${state.endedBy ?? 'nobody'})`);
    }
    const episode = failedStepEpisode(state.id);
    for (let attempt = 1; attempt <= RECORD_TRIES; attempt++) {
      const entry = await reverts.read(app);
      // Written already (this process before a crash, or a retry): finish it, never write it twice.
      if (entry?.value.episode === episode) return (await reverts.finish(entry)).hostIds;
      // An alarm about this rollout wrote its revert meanwhile: that record answers for it.
      if (entry?.value.rolloutId === state.id) return null;
      const nowMs = this.deps.now();
      const reason = state.endReason ?? `a step of rollout ${state.id} failed`;
      try {
        const done = await reverts.start({
          plan: { kind: 'revert', episode, fromVersion: state.spec.version, toVersion, rolloutId: state.id, holdUntilMs: nowMs, why: 'a rollout step failed' },
          previous: entry,
          app,
          cause: 'failed-step',
          actor: 'engine',
          reason,
          hosts: hostIds,
          keepGood: true,
          event: (r) => failedStepEvent(r, reason, nowMs),
        });
        return done.revert.hostIds;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt === RECORD_TRIES) throw err;
        this.deps.logger.info({ app, rolloutId: state.id }, 'revert record changed while writing a failed step; reading it again');
      }
    }
    return null;
  }
}

/** The failed step as the event log keeps it. */
function failedStepEvent(r: RevertRecord, reason: string, atMs: number): NewAppEvent {
  return {
    app: r.app,
    kind: 'failed-step',
    atMs,
    source: 'engine',
    reason,
    severity: null,
    summary: {},
    action: 'reverted',
    rolloutId: r.rolloutId,
    revertId: r.id,
    fromVersion: r.fromVersion,
    toVersion: r.toVersion,
    hosts: r.hostIds.length,
    message: `${reason}; reverted ${r.hostIds.length} host(s) to ${r.toVersion}`,
    actor: 'engine',
  };
}
