import type { Announce, AppStatusReport, Heartbeat, Inventory, LoadFigures } from '@flotilla/shared';

/** What an agent says about itself in its messages: the fields every announce and heartbeat carry. */
export interface HostIdentity {
  hostId: string;
  bootId: string;
  heartbeatIntervalMs: number;
  labels?: Record<string, string>;
}

/** A small Linux machine, as a test host reports itself. */
export function testInventory(hostname: string): Inventory {
  return { hostname, os: 'linux', arch: 'x64', kernel: '6.1.0', cpus: 2, memTotalBytes: 4 * 1024 ** 3, agentVersion: '0.1.0' };
}

/** Quiet load figures of that machine. */
export const QUIET_LOAD: Readonly<LoadFigures> = Object.freeze({
  cpuPercent: 3.5,
  memUsedBytes: 1024 ** 3,
  memTotalBytes: 4 * 1024 ** 3,
  diskFreeBytes: 10 * 1024 ** 3,
});

/** The announce an agent sends when it starts or reconnects. */
export function announceMessage(host: HostIdentity, more: { inventory?: Inventory; sentAtMs?: number; assignmentProofs?: boolean } = {}): Announce {
  return {
    type: 'announce',
    hostId: host.hostId,
    labels: host.labels ?? {},
    inventory: more.inventory ?? testInventory(host.hostId),
    heartbeatIntervalMs: host.heartbeatIntervalMs,
    bootId: host.bootId,
    sentAtMs: more.sentAtMs ?? Date.now(),
    ...(more.assignmentProofs !== undefined ? { assignmentProofs: more.assignmentProofs } : {}),
  };
}

/** Heartbeat number `n` of this boot: quiet load and no apps unless given. */
export function heartbeatMessage(
  host: HostIdentity,
  beat: { n: number; acceptedSeq?: number; apps?: AppStatusReport[]; load?: LoadFigures; sentAtMs?: number },
): Heartbeat {
  return {
    type: 'heartbeat',
    hostId: host.hostId,
    n: beat.n,
    bootId: host.bootId,
    sentAtMs: beat.sentAtMs ?? Date.now(),
    heartbeatIntervalMs: host.heartbeatIntervalMs,
    acceptedSeq: beat.acceptedSeq ?? 0,
    load: beat.load ?? { ...QUIET_LOAD },
    apps: beat.apps ?? [],
    labels: host.labels ?? {},
  };
}
