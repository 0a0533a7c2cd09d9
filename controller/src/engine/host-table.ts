import { InternalError } from '@flotilla/shared';
import type { HostProgress } from './types.js';

/*
 * A rollout's hosts as a persistent vector: a tree of 32-wide nodes whose leaves hold the host
 * records in plan order. Changing one host copies only the nodes on its path (three of them for
 * 25,000 hosts), so a decision that touches one host costs the same whatever the rollout's size,
 * and every earlier state keeps its own hosts unchanged. Within one decision an editor changes
 * the nodes it has already copied in place, so that a step assigning thousands of hosts copies
 * each node once.
 */

const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;

/** Inner nodes hold nodes, leaves hold host records. */
type Node = unknown[];

/** hostId → position; the order never changes after the start, so every version shares one. */
type Positions = ReadonlyMap<string, number>;

export class HostTable implements Iterable<HostProgress> {
  private view: readonly HostProgress[] | undefined;

  /** Use `HostTable.of`; the other arguments are the structure an editor hands on. */
  constructor(
    readonly size: number,
    private readonly shift: number,
    private readonly root: Node,
    private readonly positions: Positions,
  ) {}

  /** A table of these hosts, in this order. Host ids must be distinct. */
  static of(hosts: readonly HostProgress[]): HostTable {
    const positions = new Map<string, number>();
    hosts.forEach((h, i) => {
      if (positions.has(h.hostId)) throw new InternalError(`rollout lists host ${h.hostId} twice`);
      positions.set(h.hostId, i);
    });
    let level: Node[] = [];
    for (let i = 0; i < hosts.length; i += WIDTH) level.push(hosts.slice(i, i + WIDTH));
    let shift = 0;
    // Bounded: each round divides the number of nodes by WIDTH.
    while (level.length > 1) {
      const up: Node[] = [];
      for (let i = 0; i < level.length; i += WIDTH) up.push(level.slice(i, i + WIDTH));
      level = up;
      shift += BITS;
    }
    return new HostTable(hosts.length, shift, level[0] ?? [], positions);
  }

  /** The host at `position` (plan order), or undefined past the end. */
  at(position: number): HostProgress | undefined {
    if (position < 0 || position >= this.size) return undefined;
    return leafOf(this.root, this.shift, position)[position & MASK] as HostProgress;
  }

  positionOf(hostId: string): number | undefined {
    return this.positions.get(hostId);
  }

  find(hostId: string): HostProgress | undefined {
    const at = this.positions.get(hostId);
    return at === undefined ? undefined : this.at(at);
  }

  *[Symbol.iterator](): IterableIterator<HostProgress> {
    for (let start = 0; start < this.size; start += WIDTH) {
      yield* leafOf(this.root, this.shift, start) as HostProgress[];
    }
  }

  /** Calls `fn` for every host in plan order. */
  forEach(fn: (host: HostProgress, position: number) => void): void {
    for (let start = 0; start < this.size; start += WIDTH) {
      const leaf = leafOf(this.root, this.shift, start) as HostProgress[];
      for (let i = 0; i < leaf.length; i++) fn(leaf[i] as HostProgress, start + i);
    }
  }

  /** The hosts as a frozen array, built on first use (O(hosts)) and kept. */
  toArray(): readonly HostProgress[] {
    if (this.view === undefined) {
      const out: HostProgress[] = [];
      this.forEach((h) => out.push(h));
      this.view = Object.freeze(out);
    }
    return this.view;
  }

  /** An editor whose `done()` is a new table; this one never changes. */
  edit(): HostTableEditor {
    return new HostTableEditor(this, this.size, this.shift, this.root, this.positions);
  }
}

export class HostTableEditor {
  /** Nodes this editor copied: its own, changed in place. */
  private readonly owned = new Set<Node>();
  private changed = false;

  constructor(
    private readonly base: HostTable,
    private readonly size: number,
    private readonly shift: number,
    private root: Node,
    private readonly positions: Positions,
  ) {}

  at(position: number): HostProgress | undefined {
    if (position < 0 || position >= this.size) return undefined;
    return leafOf(this.root, this.shift, position)[position & MASK] as HostProgress;
  }

  /** Calls `fn` for every host as edited so far, in plan order. */
  forEach(fn: (host: HostProgress, position: number) => void): void {
    for (let start = 0; start < this.size; start += WIDTH) {
      const leaf = leafOf(this.root, this.shift, start) as HostProgress[];
      for (let i = 0; i < leaf.length; i++) fn(leaf[i] as HostProgress, start + i);
    }
  }

  set(position: number, host: HostProgress): void {
    if (position < 0 || position >= this.size) throw new InternalError(`host position ${position} is outside the rollout`);
    if (!this.owned.has(this.root)) this.root = this.copy(this.root);
    let node = this.root;
    for (let shift = this.shift; shift > 0; shift -= BITS) {
      const i = (position >>> shift) & MASK;
      let child = node[i] as Node;
      if (!this.owned.has(child)) {
        child = this.copy(child);
        node[i] = child;
      }
      node = child;
    }
    node[position & MASK] = host;
    this.changed = true;
  }

  /** The table as edited (the base itself when nothing was set). The editor is spent. */
  done(): HostTable {
    if (!this.changed) return this.base;
    this.owned.clear();
    return new HostTable(this.size, this.shift, this.root, this.positions);
  }

  private copy(node: Node): Node {
    const copy = node.slice();
    this.owned.add(copy);
    return copy;
  }
}

function leafOf(root: Node, shift: number, position: number): Node {
  let node = root;
  for (let s = shift; s > 0; s -= BITS) node = node[(position >>> s) & MASK] as Node;
  return node;
}
