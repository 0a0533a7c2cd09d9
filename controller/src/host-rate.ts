/** How fast one host may talk, and what is done with the excess. */
export interface HostRateSettings {
  /** Messages per second, on average. */
  readonly perSecond: number;
  /** Messages in one burst above the average. */
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
  /** Messages dropped since the last report of this host. */
  dropped: number;
  /** Messages dropped in all. */
  droppedTotal: number;
}

/** Idle buckets (full again) are forgotten at most this often, so the map holds only hosts that talk. */
const SWEEP_EVERY_MS = 10_000;

/**
 * A token bucket per host over the messages hosts send (heartbeats, announces). Checked on the
 * subject alone, before a message is decoded, so a flooding host costs a map look-up per message
 * and its excess never reaches the registry, KV or the alarms: the other hosts' heartbeats are
 * taken as before and nobody is marked down for it. Pure arithmetic on the time passed in.
 *
 * Cost: one entry per host heard from in the last ~10 s (idle entries are swept).
 */
export class HostMessageRate {
  private readonly buckets = new Map<string, Bucket>();
  private sweptAtMs = -Infinity;

  constructor(private readonly settings: HostRateSettings) {}

  /** True when the host may send this message now; false: drop it (it is counted). */
  admit(hostId: string, nowMs: number): boolean {
    const { perSecond, burst } = this.settings;
    this.sweep(nowMs);
    let b = this.buckets.get(hostId);
    if (b === undefined) {
      b = { tokens: burst, atMs: nowMs, dropped: 0, droppedTotal: 0 };
      this.buckets.set(hostId, b);
    } else if (nowMs > b.atMs) {
      b.tokens = Math.min(burst, b.tokens + ((nowMs - b.atMs) / 1000) * perSecond);
      b.atMs = nowMs;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    b.dropped += 1;
    b.droppedTotal += 1;
    return false;
  }

  /** Messages dropped from the host in all (while it kept talking); 0 for one not flooding. */
  droppedBy(hostId: string): number {
    return this.buckets.get(hostId)?.droppedTotal ?? 0;
  }

  /** Hosts with drops since the last call, and how many each: for a periodic log line. */
  takeDropped(): Array<{ hostId: string; dropped: number }> {
    const out: Array<{ hostId: string; dropped: number }> = [];
    for (const [hostId, b] of this.buckets) {
      if (b.dropped > 0) out.push({ hostId, dropped: b.dropped });
      b.dropped = 0;
    }
    return out;
  }

  private sweep(nowMs: number): void {
    if (nowMs - this.sweptAtMs < SWEEP_EVERY_MS) return;
    this.sweptAtMs = nowMs;
    const { perSecond, burst } = this.settings;
    for (const [hostId, b] of this.buckets) {
      const full = b.tokens + ((nowMs - b.atMs) / 1000) * perSecond >= burst;
      if (full && b.dropped === 0) this.buckets.delete(hostId);
    }
  }
}
