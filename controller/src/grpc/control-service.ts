import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type { AppStatus, ClusterInfo, Rollout, WatchRolloutRequest__Output } from '@flotilla/proto';
import {
  ConflictError,
  NotFoundError,
  UnavailableError,
  ValidationError,
  assertAppName,
  assertVersion,
  matchesSelector,
  parseSelector,
  CONFLICT_KIND,
  type AppStatusReport,
  type Logger,
} from '@flotilla/shared';
import type { ArtifactStore } from '../artifacts.js';
import type { AssignmentWriter } from '../assignments.js';
import type { HostRegistry, HostView } from '../hosts.js';
import { isFinished, type RolloutState } from '../engine/index.js';
import type { RolloutManager } from '../rollouts/manager.js';
import type { AppLedger } from '../apps/ledger.js';
import type { Rollbacks } from '../reverts/rollback.js';
import type { ArtifactGc } from '../retention/index.js';
import type { JsonBucket } from '../store/kv.js';
import type { AppRecord, ArtifactRecord } from '../store/records.js';
import { appInfo, appStatus, artifactInfo, hostInfo } from './convert.js';
import { toServiceError } from './errors.js';
import type { OperatorControlHandlers } from './identity-service.js';
import { eventMessage, historyMessage, revertMessage, rolloutMessage, rolloutSummary, specInput } from './rollout-convert.js';

export interface ControlServiceDeps {
  artifacts: ArtifactStore;
  apps: JsonBucket<AppRecord>;
  hosts: HostRegistry;
  assignments: AssignmentWriter;
  rollouts: RolloutManager;
  /** `flotilla rollback`. */
  rollbacks: Pick<Rollbacks, 'rollback'>;
  /** The event log. */
  ledger: Pick<AppLedger, 'recentEvents' | 'eventsOf'>;
  /** Artifact retention: `flotilla artifact gc` and `flotilla artifact rm`. */
  retention: Pick<ArtifactGc, 'collect' | 'remove'>;
  /** artifacts.keepVersions, reported with a collection. */
  keepVersions: number;
  logger: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Which controller leads and every controller's state, for `flotilla status`. @default none */
  cluster?: () => Promise<ClusterInfo>;
}

/**
 * How `flotilla deploy` rolls out: every selected host in one step, passing as soon as it runs
 * the version healthy, and no revert on failure (hosts stay where they are, as before rollouts).
 */
export const DEPLOY_STRATEGY = Object.freeze({
  steps: '100%',
  minHealthyTime: 0,
  healthyDeadline: '5m',
  autoRevert: false,
});

/** Events `flotilla history` shows. */
const HISTORY_EVENTS = 50;
/** Events ListEvents answers with by default, and at most. */
const DEFAULT_EVENTS = 100;
const MAX_EVENTS = 1000;

/** A rollout reference from a request: an id, or an app. */
function rolloutRef(req: { id?: string; app?: string }): { id?: string; app?: string } {
  const id = (req.id ?? '').trim();
  const app = (req.app ?? '').trim();
  if (id && app) throw new ValidationError('name a rollout by id or by app, not both');
  if (!id && !app) throw new ValidationError('name a rollout id or an app');
  return id ? { id } : { app };
}

/** Runs a unary handler body; whatever it throws becomes the call's status. */
function unary<Req, Res>(body: (request: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    body(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err)),
    );
  };
}

/** The Control service: what the operator CLI calls (the caller's own calls are in identity-service.ts). */
export function controlService(deps: ControlServiceDeps): OperatorControlHandlers {
  const logger = deps.logger.child({ component: 'control-service' });
  const now = deps.now ?? Date.now;

  /** Status of each app on a host: what it reports, plus apps assigned that it has not reported yet. */
  function hostApps(host: HostView, app: string | undefined): AppStatus[] {
    const reported = (host.live?.apps ?? []).filter((a) => !app || a.app === app);
    const out = reported.map(appStatus);
    const assigned = deps.assignments.current(host.record.hostId)?.assignment.apps ?? {};
    for (const [name, a] of Object.entries(assigned)) {
      if ((app && name !== app) || reported.some((r) => r.app === name)) continue;
      out.push(appStatus(notYetReported(name, a.version)));
    }
    return out.sort((x, y) => ((x.app ?? '') < (y.app ?? '') ? -1 : 1));
  }

  function seqOf(hostId: string): number {
    return deps.assignments.current(hostId)?.record.seq ?? 0;
  }

  return {
    ListArtifacts: unary(async (req) => {
      const app = req.app ? assertAppName(req.app) : undefined;
      const list = await deps.artifacts.list(app);
      return { artifacts: list.map(artifactInfo) };
    }),

    ListHosts: unary(async (req) => {
      const selector = parseSelector(req.selector ?? '');
      const hosts = deps.hosts.list((record) => matchesSelector(record.labels, selector));
      return { hosts: hosts.map((h) => hostInfo(h, seqOf(h.record.hostId), hostApps(h, undefined), deps.assignments.keyEpoch)) };
    }),

    GetStatus: unary(async (req) => {
      const app = req.app ? assertAppName(req.app) : undefined;
      const [appRecords, artifacts] = await Promise.all([
        app ? deps.apps.get(app).then((e) => (e ? [e] : [])) : deps.apps.list(),
        deps.artifacts.list(app),
      ]);
      if (app && appRecords.length === 0) {
        throw new NotFoundError(`app "${app}" is unknown: no artifact has been pushed for it`);
      }
      const versions = new Map<string, string[]>();
      for (const a of artifacts) {
        const list = versions.get(a.app) ?? [];
        list.push(a.version); // oldest first: the store lists by upload time
        versions.set(a.app, list);
      }
      const hosts = deps.hosts.list().filter((h) => !app || runsOrShouldRun(h, app, deps.assignments));
      const cluster = deps.cluster ? await deps.cluster() : null;
      return {
        cluster,
        hosts: hosts.map((h) => hostInfo(h, seqOf(h.record.hostId), hostApps(h, app), deps.assignments.keyEpoch)),
        apps: appRecords
          .map((e) => e.value)
          .sort((a, b) => (a.name < b.name ? -1 : 1))
          .map((r) => appInfo(r, versions.get(r.name) ?? [])),
      };
    }),

    Deploy: unary(async (req) => {
      const app = assertAppName(req.app ?? '');
      const version = assertVersion(req.version ?? '');
      await findArtifact(deps, app, version);
      const selectorText = req.selector ?? '';
      const selector = parseSelector(selectorText);
      const known = deps.hosts.list();
      if (!known.some((h) => matchesSelector(h.record.labels, selector))) {
        const which = selectorText.trim() ? `matches selector "${selectorText}"` : 'is known';
        throw new ConflictError(`no host ${which} (${known.length} hosts known); nothing was assigned`, {
          details: { kind: CONFLICT_KIND.state, selector: selectorText },
        });
      }
      const { state } = await deps.rollouts.start(
        {
          app,
          version,
          selector: selectorText,
          ...DEPLOY_STRATEGY,
          healthyDeadline: req.healthy_deadline?.trim() || DEPLOY_STRATEGY.healthyDeadline,
          createdBy: req.actor ?? '',
        },
        { force: req.force === true },
      );
      const rollout = state as RolloutState;
      const hostIds = rollout.hosts.map((h) => h.hostId).sort();
      logger.info({ app, version, selector: selectorText, hosts: hostIds.length, rolloutId: rollout.id }, 'deploy assigned');
      return { assigned: hostIds.map((id) => ({ host_id: id, seq: String(seqOf(id)) })), rollout_id: rollout.id };
    }),

    StartRollout: unary(async (req) => {
      const { state, plan } = await deps.rollouts.start(specInput(req), { dryRun: req.dry_run === true, force: req.force === true });
      return { rollout: state ? rolloutMessage(state, now()) : null, plan };
    }),

    GetRollout: unary(async (req) => {
      const state = await deps.rollouts.get(rolloutRef(req));
      return { rollout: rolloutMessage(state, now(), await deps.ledger.eventsOf(state.spec.app, state.id)) };
    }),

    ListRollouts: unary(async (req) => {
      const app = req.app ? assertAppName(req.app) : undefined;
      return { rollouts: (await deps.rollouts.list(app)).map(rolloutSummary) };
    }),

    RolloutCommand: unary(async (req) => {
      const state = await deps.rollouts.command((req.id ?? '').trim(), req.command ?? '', {
        noRevert: req.no_revert === true,
        actor: req.actor ?? '',
      });
      return { rollout: rolloutMessage(state, now()) };
    }),

    GetHistory: unary(async (req) => {
      const history = await deps.rollouts.history(req.app ?? '');
      return historyMessage(history, await deps.ledger.recentEvents(history.app, HISTORY_EVENTS));
    }),

    Rollback: unary(async (req) => {
      const result = await deps.rollbacks.rollback({
        app: req.app ?? '',
        ...(req.to_version?.trim() ? { toVersion: req.to_version.trim() } : {}),
        actor: req.actor ?? '',
        force: req.force === true,
      });
      return {
        revert: revertMessage(result.revert),
        assigned: result.assigned.map((a) => ({ host_id: a.hostId, seq: String(a.seq) })),
        event: eventMessage(result.event),
        aborted_rollout_id: result.abortedRolloutId ?? '',
        message: result.message,
      };
    }),

    ListEvents: unary(async (req) => {
      const app = req.app?.trim() ? assertAppName(req.app.trim()) : undefined;
      const limit = Math.min(MAX_EVENTS, req.limit && req.limit > 0 ? req.limit : DEFAULT_EVENTS);
      return { events: (await deps.ledger.recentEvents(app, limit)).map(eventMessage) };
    }),

    // Permission: artifact delete (admin or deployer).
    CollectArtifacts: unary(async (req) => {
      const app = req.app?.trim() ? assertAppName(req.app.trim()) : undefined;
      const dryRun = req.dry_run === true;
      const outcome = await deps.retention.collect({ dryRun, ...(app ? { app } : {}) });
      if (!dryRun) logger.info({ app, removed: outcome.removed.length, freedBytes: outcome.freedBytes }, 'artifacts collected on request');
      return {
        dry_run: dryRun,
        keep_versions: deps.keepVersions,
        kept: outcome.plans.flatMap((p) => p.keep.map((k) => ({ artifact: artifactInfo(k.record), protected_by: [...k.protectedBy] }))),
        removed: dryRun
          ? outcome.plans.flatMap((p) => p.remove.map(artifactInfo))
          : outcome.removed.map((r) => artifactInfo(r.record)),
        freed_bytes: String(outcome.freedBytes),
      };
    }),

    // Permission: artifact delete (admin or deployer).
    RemoveArtifact: unary(async (req) => {
      const app = assertAppName(req.app ?? '');
      const version = assertVersion(req.version ?? '');
      const removed = await deps.retention.remove(app, version, req.force === true);
      logger.info({ app, version, force: req.force === true, by: req.actor ?? '', bytesRemoved: removed.bytesRemoved }, 'artifact removed on request');
      return { artifact: artifactInfo(removed.record), bytes_removed: removed.bytesRemoved };
    }),

    WatchRollout: (call: ServerWritableStream<WatchRolloutRequest__Output, Rollout>) => {
      watchRollout(call, deps.rollouts, now);
    },
  };
}

/**
 * Streams the rollout, then every change, and ends once it has finished. Only the latest state
 * waits while the client is slow (write() said the buffer is full): a watcher wants the present,
 * not every step in between.
 */
function watchRollout(call: ServerWritableStream<WatchRolloutRequest__Output, Rollout>, rollouts: RolloutManager, now: () => number): void {
  let unsubscribe: () => void = () => {};
  let ended = false;
  let started = false;
  let blocked = false;
  let pending: RolloutState | null = null;

  const end = (err?: unknown): void => {
    if (ended) return;
    ended = true;
    unsubscribe();
    if (err !== undefined) call.emit('error', toServiceError(err));
    else call.end();
  };
  const send = (state: RolloutState): void => {
    if (ended) return;
    if (call.cancelled) return end();
    if (!started || blocked) {
      pending = state;
      return;
    }
    const ok = call.write(rolloutMessage(state, now()));
    if (isFinished(state.status)) return end();
    if (!ok) {
      blocked = true;
      call.once('drain', () => {
        blocked = false;
        const next = pending;
        pending = null;
        if (next) send(next);
      });
    }
  };

  call.on('cancelled', () => end());
  let ref: { id?: string; app?: string };
  try {
    ref = rolloutRef(call.request);
  } catch (err) {
    end(err);
    return;
  }
  const closed = () => end(new UnavailableError('the controller is shutting down; watch again once it is back'));
  rollouts.watch(ref, { change: send, closed }).then(
    (watching) => {
      unsubscribe = watching.unsubscribe;
      if (ended) return unsubscribe();
      started = true;
      // A change that came while the watch was being set up is newer than the state it returned.
      const first = pending ?? watching.state;
      pending = null;
      send(first);
    },
    (err: unknown) => end(err),
  );
}

async function findArtifact(deps: ControlServiceDeps, app: string, version: string): Promise<ArtifactRecord> {
  const artifact = await deps.artifacts.get(app, version);
  if (artifact) return artifact;
  const known = (await deps.artifacts.list(app)).map((a) => a.version);
  if (known.length === 0) throw new NotFoundError(`app "${app}" has no artifacts: push one first (flotilla artifact push)`);
  throw new NotFoundError(`app "${app}" has no artifact for version "${version}" (known versions: ${known.join(', ')})`);
}

function runsOrShouldRun(host: HostView, app: string, assignments: AssignmentWriter): boolean {
  if (host.live?.apps.some((a) => a.app === app)) return true;
  return assignments.current(host.record.hostId)?.assignment.apps[app] !== undefined;
}

/** A placeholder status for an app a host has been assigned but has not reported on yet. */
function notYetReported(app: string, desiredVersion: string): AppStatusReport {
  return {
    app,
    desiredVersion,
    activeVersion: null,
    processState: 'stopped',
    pid: null,
    restarts: 0,
    health: 'unknown',
    healthSinceMs: 0,
    installPhase: 'idle',
    installVersion: null,
    error: null,
    updatedAtMs: 0,
  };
}
