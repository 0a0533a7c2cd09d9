import type { AppInfo, AppStatus, ArtifactInfo, HostInfo, SignedDescriptor as SignedDescriptorMessage } from '@flotilla/proto';
import { ValidationError, type AppStatusReport, type Signed } from '@flotilla/shared';
import type { HostView } from '../hosts.js';
import type { AppRecord, ArtifactRecord } from '../store/records.js';

/** 64-bit fields travel as decimal strings (the loader's `longs: String`). */
function long(n: number | null | undefined): string {
  return String(Math.max(0, Math.floor(n ?? 0)));
}

/** Reads a uint64 field (a decimal string, or a number from a client that sent one). */
export function readUint64(value: string | number | undefined, field: string): number {
  const n = typeof value === 'number' ? value : Number(value ?? 0);
  if (!Number.isSafeInteger(n) || n < 0) throw new ValidationError(`${field} must be a whole number of bytes, got "${String(value)}"`);
  return n;
}

export function signedFromMessage(m: SignedDescriptorMessage | null | undefined): Signed {
  return { payload: m?.descriptor_json ?? '', keyId: m?.key_id ?? '', signature: m?.signature ?? '' };
}

export function signedToMessage(s: Signed): SignedDescriptorMessage {
  return { descriptor_json: s.payload, key_id: s.keyId, signature: s.signature };
}

export function artifactInfo(r: ArtifactRecord): ArtifactInfo {
  return {
    app: r.app,
    version: r.version,
    sha256: r.sha256,
    size: long(r.size),
    key_id: r.keyId,
    uploaded_at_ms: long(r.uploadedAtMs),
    signed: signedToMessage(r.signed),
  };
}

export function appStatus(s: AppStatusReport): AppStatus {
  return {
    app: s.app,
    desired_version: s.desiredVersion ?? '',
    active_version: s.activeVersion ?? '',
    process_state: s.processState,
    pid: s.pid ?? 0,
    restarts: s.restarts,
    health: s.health,
    health_since_ms: long(s.healthSinceMs),
    install_phase: s.installPhase,
    install_version: s.installVersion ?? '',
    error: s.error ?? '',
    updated_at_ms: long(s.updatedAtMs),
  };
}

export function hostInfo(host: HostView, assignmentSeq: number, apps: readonly AppStatus[], controllerKeyEpoch = 0): HostInfo {
  const r = host.record;
  const inv = r.inventory;
  const load = host.live?.load;
  return {
    host_id: r.hostId,
    labels: { ...r.labels },
    refused_labels: { ...r.refusedLabels },
    state: r.state,
    first_seen_ms: long(r.firstSeenMs),
    // The last time the host itself spoke (not the controller's restart, which resets lastSeenMs).
    last_seen_ms: long(Math.max(host.live?.receivedAtMs ?? 0, r.lastAnnounceMs)),
    inventory: inv
      ? {
          hostname: inv.hostname,
          os: inv.os,
          arch: inv.arch,
          kernel: inv.kernel,
          cpus: inv.cpus,
          mem_total_bytes: long(inv.memTotalBytes),
          agent_version: inv.agentVersion,
        }
      : null,
    load: load
      ? {
          cpu_percent: load.cpuPercent,
          mem_used_bytes: long(load.memUsedBytes),
          mem_total_bytes: long(load.memTotalBytes),
          disk_free_bytes: long(load.diskFreeBytes),
        }
      : null,
    assignment_seq: long(assignmentSeq),
    accepted_seq: long(host.live?.acceptedSeq ?? 0),
    apps: [...apps],
    heartbeat_interval_ms: long(r.heartbeatIntervalMs),
    key_epoch: host.live?.trust?.keyEpoch ?? 0,
    controller_key_epoch: controllerKeyEpoch,
    stale: host.live?.trust?.stale ?? false,
    trust_error: host.live?.trust?.error ?? '',
  };
}

export function appInfo(r: AppRecord, versions: readonly string[]): AppInfo {
  return {
    name: r.name,
    stable_version: r.stableVersion ?? '',
    stable_since_ms: long(r.stableSinceMs),
    versions: [...versions],
    previous_stable_version: r.previousStableVersion ?? '',
    bad_versions: (r.badVersions ?? []).map((b) => b.version),
  };
}
