import { FlotillaError, type Logger } from '@flotilla/shared';
import type { AppsMutation } from '../assignments.js';
import type { ArtifactRecord } from '../store/records.js';
import type { TrafficTarget } from '../engine/index.js';
import type { RolloutAssigner } from './types.js';

export interface AssignAction {
  app: string;
  hostIds: readonly string[];
  version: string;
  release: ArtifactRecord;
  /** Travels along so that agents keep it on disk for a revert. */
  stableVersion: string | null;
  kind: 'assign' | 'revert';
  /** The share of requests on `version` beside the old release (traffic steps); absent: all, old retired. */
  traffic?: TrafficTarget;
}

/**
 * An `assign` or `revert` action: sets the app's desired version on these hosts (one idempotent
 * write per host that changes; a host already there is left alone). Returns the hosts written;
 * the engine sends the others again.
 */
export async function assignVersion(assigner: RolloutAssigner, action: AssignAction, log: Logger): Promise<string[]> {
  const { app, hostIds, version, release, stableVersion, kind, traffic } = action;
  const mutate: AppsMutation = (apps) => ({
    ...apps,
    [app]: { version, release: release.signed, ...(stableVersion ? { stableVersion } : {}), ...(traffic ? { traffic } : {}) },
  });
  let written: string[] = [...hostIds];
  try {
    await assigner.assignMany(hostIds, mutate);
  } catch (err) {
    const failed = err instanceof FlotillaError && Array.isArray(err.details.failed) ? new Set(err.details.failed as string[]) : new Set(hostIds);
    written = hostIds.filter((h) => !failed.has(h));
    log.warn({ kind, version, failed: failed.size, err }, 'some assignments were not written; the engine sends them again');
  }
  log.info({ kind, version, hosts: written.length }, kind === 'assign' ? 'hosts assigned' : 'hosts reverted');
  return written;
}
