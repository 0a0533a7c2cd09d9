/**
 * Keys each due at a time, earliest first. Setting, deleting and taking what is due cost
 * O(log n), so the built-in alarms can learn what a passing moment changed without looking at
 * every host.
 *
 * A min-heap whose entries are checked against the current time of their key: setting a key
 * again or deleting it leaves the old entry in place, to be dropped when it reaches the top, and
 * the heap is rebuilt when such stale entries outnumber the live ones.
 */
export class DueTimes<K> {
  private readonly dueAt = new Map<K, number>();
  private heap: Array<{ readonly atMs: number; readonly key: K }> = [];

  get size(): number {
    return this.dueAt.size;
  }

  has(key: K): boolean {
    return this.dueAt.has(key);
  }

  keys(): IterableIterator<K> {
    return this.dueAt.keys();
  }

  /** `Infinity` keeps the key without it ever falling due. */
  set(key: K, atMs: number): void {
    if (this.dueAt.get(key) === atMs) return;
    this.dueAt.set(key, atMs);
    if (atMs !== Infinity) this.push({ atMs, key });
    this.compactIfStale();
  }

  delete(key: K): boolean {
    if (!this.dueAt.delete(key)) return false;
    this.compactIfStale();
    return true;
  }

  /** The earliest time a key falls due; null when none will. */
  earliest(): number | null {
    this.dropStale();
    return this.heap[0]?.atMs ?? null;
  }

  /** Removes and returns the keys due at or before `nowMs`, earliest first. */
  takeDue(nowMs: number): K[] {
    const due: K[] = [];
    // Bounded: each round removes one entry from the heap.
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (top === undefined || top.atMs > nowMs) return due;
      this.pop();
      this.dueAt.delete(top.key);
      due.push(top.key);
    }
  }

  private dropStale(): void {
    for (let top = this.heap[0]; top !== undefined && this.dueAt.get(top.key) !== top.atMs; top = this.heap[0]) this.pop();
  }

  private compactIfStale(): void {
    if (this.heap.length <= 2 * this.dueAt.size + 64) return;
    this.heap = [];
    for (const [key, atMs] of this.dueAt) if (atMs !== Infinity) this.push({ atMs, key });
  }

  private push(entry: { atMs: number; key: K }): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as typeof entry).atMs <= entry.atMs) break;
      h[i] = h[parent] as typeof entry;
      i = parent;
    }
    h[i] = entry;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= h.length) break;
      const right = left + 1;
      const child = right < h.length && (h[right] as typeof last).atMs < (h[left] as typeof last).atMs ? right : left;
      if ((h[child] as typeof last).atMs >= last.atMs) break;
      h[i] = h[child] as typeof last;
      i = child;
    }
    h[i] = last;
  }
}
