/**
 * Hosts due for a heartbeat, by time slot: one timer drives the whole simulated fleet instead of
 * one timer per host. A host scheduled for a slot already passed is due in the next one.
 */
export class BeatWheel {
  private readonly slots = new Map<number, number[]>();
  private lastSlot: number;

  constructor(
    private readonly slotMs: number,
    nowMs: number,
  ) {
    this.lastSlot = Math.floor(nowMs / slotMs) - 1;
  }

  schedule(host: number, atMs: number): void {
    const slot = Math.max(Math.floor(atMs / this.slotMs), this.lastSlot + 1);
    const list = this.slots.get(slot);
    if (list) list.push(host);
    else this.slots.set(slot, [host]);
  }

  /** Calls `visit` for every host due by `nowMs`, in slot order, and forgets them. */
  due(nowMs: number, visit: (host: number) => void): void {
    const until = Math.floor(nowMs / this.slotMs);
    // Bounded by the time since the last call; a host visited here reschedules past `until`.
    for (let slot = this.lastSlot + 1; slot <= until; slot++) {
      this.lastSlot = slot;
      const list = this.slots.get(slot);
      if (!list) continue;
      this.slots.delete(slot);
      for (const host of list) visit(host);
    }
  }
}
