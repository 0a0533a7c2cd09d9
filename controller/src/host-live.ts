import type { AppStatusReport, Heartbeat, LoadFigures, TrustReport } from '@flotilla/shared';
import type { HostRecord } from './store/records.js';

// The host registry's in-memory picture of each host, apart from the registry's rules (hosts.ts).

/** What the latest heartbeat said. Kept in memory only: heartbeats are never written to KV. */
export interface LiveHostView {
  readonly bootId: string;
  /** The heartbeat's counter within its boot; older ones are dropped. */
  readonly n: number;
  /** The agent's clock when it sent the heartbeat. */
  readonly sentAtMs: number;
  /** The controller's clock when it arrived. */
  readonly receivedAtMs: number;
  readonly acceptedSeq: number;
  readonly load: LoadFigures;
  readonly apps: readonly AppStatusReport[];
  /** Key epoch, staleness and any refusal, as the host reports them (null from older agents). */
  readonly trust: TrustReport | null;
}

/** One host as the controller sees it now. */
export interface HostView {
  readonly record: Readonly<HostRecord>;
  /** Last announce or heartbeat (or, for a host not heard from since a restart, the restart). */
  readonly lastSeenMs: number;
  /** Null until a heartbeat has arrived since the controller started. */
  readonly live: LiveHostView | null;
}

export interface HostEntry {
  record: HostRecord;
  lastSeenMs: number;
  /** Updated in place by each heartbeat; views get a copy. */
  live: LiveState | null;
  /** Boot ids of the host's earlier agent processes: their late heartbeats are stale. */
  retiredBoots: string[];
}

/**
 * The registry's own copy of what the latest heartbeat said, overwritten field by field.
 *
 * Why in place: a heartbeat's objects would otherwise be held for one interval, until the
 * host's next heartbeat replaces them; at 25,000 hosts a second that is long enough for every
 * one of them to be copied out of the young generation and collected later as old garbage. Kept
 * here, the numbers are overwritten where they are and the heartbeat's own objects die young. The
 * apps' reports are kept by reference, and only replaced when they say something new (so mostly
 * not). Nothing outside sees this object: `view` copies it.
 */
export interface LiveState {
  bootId: string;
  n: number;
  /** n of the latest full heartbeat: the basis a heartbeat tick must name to be taken in full. */
  basisN: number;
  sentAtMs: number;
  receivedAtMs: number;
  acceptedSeq: number;
  readonly load: LoadFigures;
  apps: readonly AppStatusReport[];
  trust: TrustReport | null;
}

/** Earlier boots remembered per host; late heartbeats from older ones are unlikely. */
export const RETIRED_BOOTS_KEPT = 4;

/**
 * Same boot: the counter must grow. A boot the host has since replaced: always stale. Clocks are
 * not compared, so a host whose clock steps back after a reboot is still heard.
 */
export function isStale(hb: Heartbeat, entry: HostEntry): boolean {
  if (entry.live && hb.bootId === entry.live.bootId) return hb.n <= entry.live.n;
  return entry.retiredBoots.includes(hb.bootId);
}

export function retireBoot(entry: HostEntry, bootId: string): void {
  if (entry.retiredBoots.includes(bootId)) return;
  entry.retiredBoots = [...entry.retiredBoots, bootId].slice(-RETIRED_BOOTS_KEPT);
}

/** Every heartbeat carries the host's labels: compared without building key arrays. */
export function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  let count = 0;
  for (const key in a) {
    if (!Object.hasOwn(b, key) || a[key] !== b[key]) return false;
    count++;
  }
  for (const _key in b) count--;
  return count === 0;
}

export function copyLoad(from: LoadFigures, to: LoadFigures): void {
  to.cpuPercent = from.cpuPercent;
  to.memUsedBytes = from.memUsedBytes;
  to.memTotalBytes = from.memTotalBytes;
  to.diskFreeBytes = from.diskFreeBytes;
}

/**
 * Whether two heartbeats report the same apps, field for field. Reports are flat and, once
 * decoded, carry exactly the schema's fields, so every field of one is compared with the other's.
 */
export function sameReports(a: readonly AppStatusReport[], b: readonly AppStatusReport[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as AppStatusReport;
    const y = b[i] as AppStatusReport;
    let fields = 0;
    for (const field in x) {
      fields++;
      if (x[field as keyof AppStatusReport] !== y[field as keyof AppStatusReport]) return false;
    }
    // A key only the newer report has (an optional one such as trafficWeight) is a change too.
    for (const _ in y) fields--;
    if (fields !== 0) return false;
  }
  return true;
}

/** A snapshot: later heartbeats do not change it. */
export function view(entry: HostEntry): HostView {
  const live = entry.live;
  return {
    record: entry.record,
    lastSeenMs: entry.lastSeenMs,
    live:
      live === null
        ? null
        : {
            bootId: live.bootId,
            n: live.n,
            sentAtMs: live.sentAtMs,
            receivedAtMs: live.receivedAtMs,
            acceptedSeq: live.acceptedSeq,
            load: { ...live.load },
            apps: live.apps,
            trust: live.trust,
          },
  };
}

export const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** `refusedLabels` for a record: present only when the host claimed something it was not given. */
export function refusedField(refused: Readonly<Record<string, string>>): { refusedLabels?: Record<string, string> } {
  return Object.keys(refused).length === 0 ? {} : { refusedLabels: { ...refused } };
}
