import type { HostState } from './store/records.js';

/** What the liveness rule needs to know about one host. */
export interface LivenessInput {
  state: HostState;
  /** When the controller last heard from the host (or started watching it, after a restart). */
  lastSeenMs: number;
  heartbeatIntervalMs: number;
}

/** When a host last heard at `lastSeenMs` goes down: `downAfterMissed` of its own intervals later. */
export function downDeadlineMs(lastSeenMs: number, heartbeatIntervalMs: number, downAfterMissed: number): number {
  return lastSeenMs + downAfterMissed * heartbeatIntervalMs;
}

/**
 * The down rule: a host is down once it has been silent for `downAfterMissed` of its own
 * heartbeat intervals, measured on the controller's clock from when it last heard the host. At
 * the deadline, not after it: with the default 3, a host silent for exactly 3 intervals is down.
 */
export function isSilentTooLong(input: LivenessInput, downAfterMissed: number, nowMs: number): boolean {
  return nowMs >= downDeadlineMs(input.lastSeenMs, input.heartbeatIntervalMs, downAfterMissed);
}

/** A host that reached its deadline, as `LivenessDeadlines.takeDue` hands it over. */
export interface DueHost {
  readonly hostId: string;
  readonly lastHeardMs: number;
  readonly deadlineMs: number;
}

interface Watch {
  readonly hostId: string;
  heardAtMs: number;
  line: Line;
  prev: Watch | null;
  next: Watch | null;
}

/** The hosts of one heartbeat interval, least recently heard first. */
interface Line {
  readonly intervalMs: number;
  head: Watch | null;
  tail: Watch | null;
}

/**
 * Every watched host's down deadline, found without looking at the hosts that are not due.
 *
 * Why this shape: hosts with the same interval get the same allowance, so among them the order
 * of deadlines is the order in which they were last heard. Each distinct interval therefore keeps
 * one doubly linked list in arrival order; hearing a host moves it to the tail (O(1), no
 * allocation), and the earliest deadline of the whole fleet is the earliest of the few list
 * heads. A heartbeat costs the same at 25,000 hosts as at 10, nothing is swept, and unlike a
 * queue of `{host, deadline}` entries there are no stale entries to skip: the list holds each
 * host once. A min-heap would be O(log n) per heartbeat for nothing: the lists are sorted already.
 *
 * The lists stay sorted as long as the times given only grow. When the clock steps back, every
 * host heard "later" than the new time is treated as heard at that time (one O(n) pass, on the
 * step only), so the lists stay sorted and no host waits for the clock to catch up.
 *
 * Pure bookkeeping: no timer, no clock; the host registry owns both.
 */
export class LivenessDeadlines {
  private readonly watches = new Map<string, Watch>();
  private readonly lines = new Map<number, Line>();
  private latestHeardMs = -Infinity;

  constructor(private readonly downAfterMissed: number) {}

  /** Hosts watched. */
  get size(): number {
    return this.watches.size;
  }

  /** The host was heard at `heardAtMs`: its deadline starts over from then. */
  heard(hostId: string, heardAtMs: number, heartbeatIntervalMs: number): void {
    if (heardAtMs < this.latestHeardMs) this.clampTo(heardAtMs);
    this.latestHeardMs = heardAtMs;
    let watch = this.watches.get(hostId);
    if (watch) {
      unlink(watch);
      if (watch.line.intervalMs !== heartbeatIntervalMs) {
        this.dropIfEmpty(watch.line);
        watch.line = this.lineFor(heartbeatIntervalMs);
      }
      watch.heardAtMs = heardAtMs;
    } else {
      watch = { hostId, heardAtMs, line: this.lineFor(heartbeatIntervalMs), prev: null, next: null };
      this.watches.set(hostId, watch);
    }
    append(watch);
  }

  /** Stops watching the host (it is down, or gone); hearing it again starts a new watch. */
  forget(hostId: string): void {
    const watch = this.watches.get(hostId);
    if (!watch) return;
    unlink(watch);
    this.dropIfEmpty(watch.line);
    this.watches.delete(hostId);
  }

  /** The host's deadline, or undefined when it is not watched. */
  deadlineOf(hostId: string): number | undefined {
    const watch = this.watches.get(hostId);
    return watch ? this.deadline(watch) : undefined;
  }

  /** The earliest deadline of all watched hosts, or undefined when none is watched. */
  nextDeadlineMs(): number | undefined {
    let earliest: number | undefined;
    for (const line of this.lines.values()) {
      if (!line.head) continue;
      const deadline = this.deadline(line.head);
      if (earliest === undefined || deadline < earliest) earliest = deadline;
    }
    return earliest;
  }

  /** Removes and returns every host whose deadline is at or before `nowMs`, earliest first per interval. */
  takeDue(nowMs: number): DueHost[] {
    const due: DueHost[] = [];
    for (const line of [...this.lines.values()]) {
      for (let head = line.head; head && this.deadline(head) <= nowMs; head = line.head) {
        due.push({ hostId: head.hostId, lastHeardMs: head.heardAtMs, deadlineMs: this.deadline(head) });
        unlink(head);
        this.watches.delete(head.hostId);
      }
      this.dropIfEmpty(line);
    }
    return due;
  }

  /**
   * Every watched host counts as heard at `nowMs` at the earliest: the controller itself could
   * not hear anyone until then, so their silence before it says nothing. Order is kept (the
   * latest of two times stays the latest), so the lists stay sorted.
   */
  restartAllFrom(nowMs: number): void {
    for (const watch of this.watches.values()) watch.heardAtMs = Math.max(watch.heardAtMs, nowMs);
    this.latestHeardMs = Math.max(this.latestHeardMs, nowMs);
  }

  /**
   * Every watched host counts as heard `byMs` later than it was, but never later than `nowMs`:
   * the controller could not listen for that long (its event loop was held up), so that much of
   * each host's silence says nothing. Order is kept, so the lists stay sorted. O(hosts): for a
   * stall, not for a heartbeat.
   */
  postponeAll(byMs: number, nowMs: number): void {
    for (const watch of this.watches.values()) watch.heardAtMs = Math.min(watch.heardAtMs + byMs, nowMs);
    this.latestHeardMs = Math.min(this.latestHeardMs + byMs, nowMs);
  }

  private clampTo(nowMs: number): void {
    for (const watch of this.watches.values()) watch.heardAtMs = Math.min(watch.heardAtMs, nowMs);
  }

  private deadline(watch: Watch): number {
    return downDeadlineMs(watch.heardAtMs, watch.line.intervalMs, this.downAfterMissed);
  }

  private lineFor(intervalMs: number): Line {
    let line = this.lines.get(intervalMs);
    if (!line) {
      line = { intervalMs, head: null, tail: null };
      this.lines.set(intervalMs, line);
    }
    return line;
  }

  private dropIfEmpty(line: Line): void {
    if (!line.head) this.lines.delete(line.intervalMs);
  }
}

function unlink(watch: Watch): void {
  const { line, prev, next } = watch;
  if (prev) prev.next = next;
  else if (line.head === watch) line.head = next;
  if (next) next.prev = prev;
  else if (line.tail === watch) line.tail = prev;
  watch.prev = null;
  watch.next = null;
}

function append(watch: Watch): void {
  const { line } = watch;
  watch.prev = line.tail;
  watch.next = null;
  if (line.tail) line.tail.next = watch;
  else line.head = watch;
  line.tail = watch;
}
