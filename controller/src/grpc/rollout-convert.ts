import type {
  AppEvent,
  GetHistoryResponse,
  Revert,
  Rollout,
  RolloutHost,
  RolloutStrategy,
  RolloutSummary,
  StartRolloutRequest__Output,
} from '@flotilla/proto';
import { formatStepSize, type HostProgress, type RolloutSpec, type RolloutSpecInput, type RolloutState } from '../engine/index.js';
import type { AppEventRecord, RolloutSummaryRecord } from '../apps/records.js';
import type { RevertRecord } from '../reverts/records.js';
import type { AppHistory } from '../apps/history-view.js';

/** 64-bit fields travel as decimal strings; absent times are 0. */
function long(n: number | null | undefined): string {
  return String(Math.max(0, Math.floor(n ?? 0)));
}

/** The request's flag-shaped fields; empty strings take the engine's defaults. */
export function specInput(req: StartRolloutRequest__Output): RolloutSpecInput {
  const text = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());
  const restarts = text(req.max_restarts);
  return {
    app: req.app ?? '',
    version: req.version ?? '',
    selector: req.selector ?? '',
    canary: text(req.canary),
    batch: text(req.batch),
    steps: text(req.steps),
    minHealthyTime: text(req.min_healthy_time),
    healthyDeadline: text(req.healthy_deadline),
    bake: text(req.bake),
    canaryBake: text(req.canary_bake),
    maxFailures: text(req.max_failures),
    pauseAfterCanary: req.pause_after_canary === true,
    stableAfter: text(req.stable_after),
    autoRevert: req.no_auto_revert !== true,
    crashLoopRestarts: restarts === undefined ? undefined : readRestarts(restarts),
    spreadBy: text(req.spread_by),
    watchWindow: text(req.watch_window),
    createdBy: req.actor ?? '',
    ...(text(req.traffic) !== undefined ? { traffic: text(req.traffic) as string } : {}),
  };
}

/** `--max-restarts` as a number; the spec checks its range and says what is wrong. */
function readRestarts(text: string): number {
  return /^\d+$/.test(text) ? Number(text) : Number.NaN;
}

function strategy(spec: RolloutSpec): RolloutStrategy {
  const s = spec.strategy;
  return {
    selector: spec.selector,
    kind: s.kind,
    canary: s.kind === 'batches' ? formatStepSize(s.canary) : '',
    batch: s.kind === 'batches' ? formatStepSize(s.batch) : '',
    steps: s.kind === 'steps' ? s.steps.map(formatStepSize) : [],
    spread_by: spec.spreadBy,
    min_healthy_time_ms: long(spec.minHealthyTimeMs),
    healthy_deadline_ms: long(spec.healthyDeadlineMs),
    bake_ms: long(spec.bakeMs),
    canary_bake_ms: long(spec.canaryBakeMs),
    max_failures: formatStepSize(spec.maxFailures),
    pause_after_canary: spec.pauseAfterCanary,
    stable_after_ms: long(spec.stableAfterMs),
    auto_revert: spec.autoRevert,
    max_restarts: spec.crashLoopRestarts,
    watch_window_ms: long(spec.watchWindowMs),
  };
}

function host(h: HostProgress): RolloutHost {
  const r = h.lastReport;
  return {
    host_id: h.hostId,
    step: h.step,
    state: h.state,
    assigned_at_ms: long(h.assignedAtMs),
    healthy_since_ms: long(h.healthySinceMs),
    passed_at_ms: long(h.passedAtMs),
    failed_at_ms: long(h.failedAtMs),
    failure_reason: h.failureReason ?? '',
    reverted_at_ms: long(h.revertedAtMs),
    down: h.down,
    removed: h.removed,
    last_report: r
      ? {
          active_version: r.activeVersion ?? '',
          process_state: r.processState,
          health: r.health,
          install_phase: r.installPhase,
          restarts: r.restarts,
          error: r.error ?? '',
          traffic_weight: r.trafficWeight === undefined ? '' : String(r.trafficWeight),
        }
      : null,
  };
}

/** The rollout, with the alarms and rollbacks that concerned it when given. */
export function rolloutMessage(s: RolloutState, nowMs: number, events: readonly AppEventRecord[] = []): Rollout {
  const c = s.counters;
  return {
    id: s.id,
    app: s.spec.app,
    version: s.spec.version,
    status: s.status,
    stable_version: s.stableVersion ?? '',
    strategy: strategy(s.spec),
    steps: s.steps.map((step) => ({
      index: step.index,
      host_ids: [...step.hostIds],
      target_count: step.targetCount,
      started_at_ms: long(step.startedAtMs),
      passed_at_ms: long(step.passedAtMs),
      bake_until_ms: long(step.bakeUntilMs),
    })),
    current_step: s.currentStep,
    hosts: s.hosts.map(host),
    counters: {
      hosts: c.hosts,
      pending: c.pending,
      in_progress: c.inProgress,
      passed: c.passed,
      failed: c.failed,
      skipped: c.skipped,
      reverting: c.reverting,
      reverted: c.reverted,
    },
    failure_limit: s.failureLimit,
    pause_reason: s.pause?.reason ?? '',
    paused_at_ms: long(s.pause?.atMs),
    paused_by: s.pause?.by ?? '',
    promoted_at_ms: long(s.promotedAtMs),
    stabilise_until_ms: long(s.stabiliseUntilMs),
    created_at_ms: long(s.createdAtMs),
    updated_at_ms: long(s.updatedAtMs),
    finished_at_ms: long(s.finishedAtMs),
    end_reason: s.endReason ?? '',
    ended_by: s.endedBy ?? '',
    created_by: s.spec.createdBy,
    log: s.log.map((e) => ({
      at_ms: long(e.atMs),
      kind: e.kind,
      actor: e.actor,
      message: e.message,
      details_json: JSON.stringify(e.details ?? {}),
    })),
    now_ms: long(nowMs),
    events: events.map(eventMessage),
  };
}

export function eventMessage(e: AppEventRecord): AppEvent {
  return {
    id: e.id,
    app: e.app,
    kind: e.kind,
    at_ms: long(e.atMs),
    source: e.source,
    reason: e.reason,
    severity: e.severity ?? '',
    summary_json: JSON.stringify(e.summary ?? {}),
    action: e.action,
    rollout_id: e.rolloutId ?? '',
    revert_id: e.revertId ?? '',
    from_version: e.fromVersion ?? '',
    to_version: e.toVersion ?? '',
    hosts: e.hosts,
    message: e.message ?? '',
    actor: e.actor ?? '',
  };
}

export function revertMessage(r: RevertRecord): Revert {
  return {
    id: r.id,
    app: r.app,
    cause: r.cause,
    from_version: r.fromVersion ?? '',
    to_version: r.toVersion,
    rollout_id: r.rolloutId ?? '',
    host_ids: [...r.hostIds],
    started_at_ms: long(r.startedAtMs),
    finished_at_ms: long(r.finishedAtMs),
    status: r.status,
    actor: r.actor,
    reason: r.reason,
    bad_version: r.badVersion ?? '',
  };
}

export function rolloutSummary(r: RolloutSummaryRecord): RolloutSummary {
  return {
    id: r.id,
    app: r.app,
    version: r.version,
    status: r.status,
    stable_version: r.stableVersion ?? '',
    selector: r.selector ?? '',
    hosts: r.hosts ?? 0,
    failed: r.failed ?? 0,
    passed: r.passed ?? 0,
    steps: r.steps ?? 0,
    current_step: r.currentStep ?? 0,
    created_by: r.createdBy ?? '',
    created_at_ms: long(r.createdAtMs),
    finished_at_ms: long(r.finishedAtMs),
    end_reason: r.endReason ?? '',
    ended_by: r.endedBy ?? '',
  };
}

/** `events`: the app's alarms and rollbacks, newest first. */
export function historyMessage(h: AppHistory, events: readonly AppEventRecord[] = []): GetHistoryResponse {
  return {
    app: h.app,
    stable_version: h.stableVersion ?? '',
    stable_since_ms: long(h.stableSinceMs),
    previous_stable_version: h.previousStableVersion ?? '',
    versions: h.versions.map((v) => ({
      version: v.version,
      uploaded_at_ms: long(v.uploadedAtMs),
      stable: v.stable,
      stable_periods: v.periods.map((p) => ({ since_ms: long(p.sinceMs), until_ms: long(p.untilMs), rollout_id: p.rolloutId ?? '' })),
      bad: v.bad !== null,
      bad_since_ms: long(v.bad?.atMs),
      bad_reason: v.bad?.reason ?? '',
      bad_by: v.bad?.by ?? '',
    })),
    rollouts: h.rollouts.map(rolloutSummary),
    events: events.map(eventMessage),
  };
}
