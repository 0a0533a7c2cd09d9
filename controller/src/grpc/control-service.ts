import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { AppStatus, ControlHandlers } from '@flotilla/proto';
import {
  ConflictError,
  NotFoundError,
  assertAppName,
  assertVersion,
  matchesSelector,
  parseSelector,
  type AppStatusReport,
  type Logger,
} from '@flotilla/shared';
import type { ArtifactStore } from '../artifacts.js';
import type { AssignmentWriter } from '../assignments.js';
import { CONFLICT_KIND } from '../errors.js';
import type { HostRegistry, HostView } from '../hosts.js';
import type { JsonBucket } from '../store/kv.js';
import type { AppRecord, ArtifactRecord } from '../store/records.js';
import { appInfo, appStatus, artifactInfo, hostInfo } from './convert.js';
import { toServiceError } from './errors.js';

export interface ControlServiceDeps {
  artifacts: ArtifactStore;
  apps: JsonBucket<AppRecord>;
  hosts: HostRegistry;
  assignments: AssignmentWriter;
  logger: Logger;
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

/** The Control service: what the operator CLI calls. */
export function controlService(deps: ControlServiceDeps): ControlHandlers {
  const logger = deps.logger.child({ component: 'control-service' });

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
      const hosts = deps.hosts.list().filter((h) => matchesSelector(h.record.labels, selector));
      return { hosts: hosts.map((h) => hostInfo(h, seqOf(h.record.hostId), hostApps(h, undefined))) };
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
      return {
        hosts: hosts.map((h) => hostInfo(h, seqOf(h.record.hostId), hostApps(h, app))),
        apps: appRecords
          .map((e) => e.value)
          .sort((a, b) => (a.name < b.name ? -1 : 1))
          .map((r) => appInfo(r, versions.get(r.name) ?? [])),
      };
    }),

    Deploy: unary(async (req) => {
      const app = assertAppName(req.app ?? '');
      const version = assertVersion(req.version ?? '');
      const artifact = await findArtifact(deps, app, version);
      const selectorText = req.selector ?? '';
      const selector = parseSelector(selectorText);
      const known = deps.hosts.list();
      const targets = known.filter((h) => matchesSelector(h.record.labels, selector)).map((h) => h.record.hostId);
      if (targets.length === 0) {
        const which = selectorText.trim() ? `matches selector "${selectorText}"` : 'is known';
        throw new ConflictError(`no host ${which} (${known.length} hosts known); nothing was assigned`, {
          details: { kind: CONFLICT_KIND.state, selector: selectorText },
        });
      }
      const stableVersion = (await deps.apps.get(app))?.value.stableVersion ?? undefined;
      const results = await deps.assignments.assignMany(targets, (apps) => ({
        ...apps,
        [app]: { version, release: artifact.signed, ...(stableVersion ? { stableVersion } : {}) },
      }));
      logger.info({ app, version, selector: selectorText, hosts: targets.length }, 'deploy assigned');
      return { assigned: results.map((r) => ({ host_id: r.hostId, seq: String(r.seq) })) };
    }),
  };
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
