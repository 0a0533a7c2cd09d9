import type { Logger } from '@flotilla/shared';
import type { AppEventRecord } from './apps/records.js';
import type { StoreBehindFinding } from './store-behind.js';

/** The one call the log needs from the app ledger. */
export interface EventAppender {
  appendEvent(event: Omit<AppEventRecord, 'id'>): Promise<AppEventRecord>;
}

export interface StoreBehindLogOptions {
  events: EventAppender;
  logger: Logger;
  now: () => number;
  /**
   * Findings within this long of the first are written as one event per app: after a store
   * went back in time every host says so within one heartbeat interval, and one event per host
   * would push the app's alarms out of its log.
   * @default 5000
   */
  windowMs?: number;
}

/** Hosts named in an event's message; the count says how many there were. */
const HOSTS_NAMED = 5;
/** Findings held between writes; more within one window are counted, not kept. */
const FINDINGS_KEPT = 10_000;

/**
 * The event-log entries for findings: one per app any of them concerns, saying which hosts hold
 * which seq and versions against the record, and how many were given their assignment again.
 */
export function storeBehindEvents(findings: readonly StoreBehindFinding[], nowMs: number): Omit<AppEventRecord, 'id'>[] {
  const byApp = new Map<string, StoreBehindFinding[]>();
  for (const f of findings) {
    const apps = new Set([...Object.keys(f.recordVersions), ...Object.entries(f.hostVersions).flatMap(([a, v]) => (v === null ? [] : [a]))]);
    for (const app of apps) byApp.set(app, [...(byApp.get(app) ?? []), f]);
  }
  return [...byApp.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([app, list]) => {
    const named = list.slice(0, HOSTS_NAMED).map(
      (f) =>
        `${f.hostId} holds seq ${f.acceptedSeq} with ${app}@${f.hostVersions[app] ?? 'none'}, ` +
        `the record seq ${f.recordSeq} with ${app}@${f.recordVersions[app] ?? 'none'}`,
    );
    const more = list.length > HOSTS_NAMED ? ` (and ${list.length - HOSTS_NAMED} more)` : '';
    const reissued = list.filter((f) => f.reissued).length;
    return {
      app,
      kind: 'reconcile' as const,
      atMs: nowMs,
      source: 'hosts',
      reason: 'hosts hold assignments the store has no record of: it went back in time (lost writes)',
      severity: null,
      summary: { hosts: list.length, reissued, ahead: list.filter((f) => f.comparison === 'ahead').length },
      action: 'store-behind' as const,
      rolloutId: null,
      revertId: null,
      fromVersion: mostCommon(list.map((f) => f.recordVersions[app] ?? null)),
      toVersion: mostCommon(list.map((f) => f.hostVersions[app] ?? null)),
      hosts: reissued,
      message:
        `${named.join('; ')}${more}. Their next assignments go above the seqs they hold` +
        (reissued > 0 ? `; ${reissued} given this controller's current assignment again` : '; nothing was pushed to them'),
      actor: null,
    };
  });
}

function mostCommon(values: readonly (string | null)[]): string | null {
  const counts = new Map<string | null, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | null = null;
  let bestCount = 0;
  for (const [v, n] of counts) if (n > bestCount) [best, bestCount] = [v, n];
  return best;
}

/** Writes store-behind findings to the apps' event logs, gathered over a short window. */
export class StoreBehindLog {
  private pending: StoreBehindFinding[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: StoreBehindLogOptions) {}

  note(finding: StoreBehindFinding): void {
    if (this.pending.length < FINDINGS_KEPT) this.pending.push(finding);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.opts.windowMs ?? 5000);
    this.timer.unref();
  }

  /** Writes what is pending now (shutdown). */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private flush(): Promise<void> {
    const findings = this.pending;
    this.pending = [];
    this.writing = this.writing.then(async () => {
      for (const event of storeBehindEvents(findings, this.opts.now())) {
        try {
          await this.opts.events.appendEvent(event);
        } catch (err) {
          // The controller log keeps the finding (assignments.ts warns per host).
          this.opts.logger.warn({ err, app: event.app }, 'cannot record store-behind event');
        }
      }
    });
    return this.writing;
  }
}
