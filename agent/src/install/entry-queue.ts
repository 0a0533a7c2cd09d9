import { foldKey } from './archive-rules.js';

/** Entries written at once when their paths do not touch. */
export const ENTRIES_IN_FLIGHT = 8;

type Job = (done: () => void) => void;

interface Waiting {
  readonly job: Job;
  /** Folded paths the entry writes or links to, each with a trailing '/' for prefix tests. */
  readonly keys: readonly string[];
}

/**
 * Stands in for node-tar's PathReservations inside its Unpack: entries start in archive order,
 * a few at once when their paths do not touch, and each is forgotten once written.
 *
 * Why: the tar package's own reservations keep every entry's job (and with it the entry, its
 * write stream and their closures) until the whole archive is done, about 4 KB an entry, so a
 * 100,000-entry release held hundreds of MB of agent memory. Here memory is bounded by what the
 * parser has queued (one inflated chunk) plus `limit` entries in flight, whatever the archive's
 * length. An entry starts only when no entry in flight has the same path, an ancestor or a
 * descendant of it under case folding, and never before an earlier entry that is still waiting,
 * so "a later entry replaces an earlier one" holds exactly as the archive spells it.
 */
export class ArchiveOrderQueue {
  private readonly waiting: Waiting[] = [];
  private head = 0;
  private readonly running = new Set<Waiting>();

  constructor(private readonly limit = ENTRIES_IN_FLIGHT) {}

  /** The one call node-tar's Unpack makes; true when the job started at once. */
  reserve(paths: readonly string[], job: Job): boolean {
    const w: Waiting = { job, keys: paths.map(keyOf) };
    this.waiting.push(w);
    return this.startReady().has(w);
  }

  /** Jobs queued and not yet started. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  /** Jobs started and not yet done. */
  get inFlight(): number {
    return this.running.size;
  }

  private startReady(): Set<Waiting> {
    const started = new Set<Waiting>();
    while (this.running.size < this.limit) {
      const w = this.waiting[this.head];
      if (w === undefined || this.touchesRunning(w)) break;
      this.waiting[this.head] = undefined as never;
      this.head += 1;
      this.running.add(w);
      started.add(w);
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      // Compact now and then so a long run of jobs does not keep a long array of holes.
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    for (const w of started) {
      let called = false;
      w.job(() => {
        if (called) return;
        called = true;
        this.running.delete(w);
        // A job that finishes at once would otherwise start the next on the same stack.
        queueMicrotask(() => this.startReady());
      });
    }
    return started;
  }

  private touchesRunning(w: Waiting): boolean {
    for (const r of this.running) {
      for (const a of r.keys) for (const b of w.keys) if (a.startsWith(b) || b.startsWith(a)) return true;
    }
    return false;
  }
}

/** The release root ('.') is everyone's ancestor: its key is a prefix of every other. */
function keyOf(path: string): string {
  const clean = path.replace(/\/+$/, '').replace(/^(?:\.\/)+/, '');
  return clean === '' || clean === '.' ? '' : `${foldKey(clean)}/`;
}
