import { HostTable, type HostTableEditor } from './host-table.js';
import { fieldsOf, hostTableOf, stateOf, type RolloutFields } from './state.js';
import { HostTracker } from './tracker.js';
import { counterOf, wakeAt } from './wake.js';
import type { Actor, Decision, HostProgress, RolloutAction, RolloutLogKind, RolloutState, StepProgress } from './types.js';

/** Log entries a state keeps; older ones fall off (counted in `logDropped`). */
export const LOG_KEPT = 500;


/**
 * A state being decided. Copies only what changes (a report touches one host record of
 * thousands), and knows whether anything changed at all, so that an event that changes nothing
 * hands back the very same state object. The state given is never changed.
 */
export class Draft {
  /** Every field but the hosts, as decided so far (arrays inside are copied before a change). */
  readonly s: RolloutFields;
  readonly now: number;
  /** Something time-based may be due (the clock reached the wake time of the state given). */
  readonly timersDue: boolean;
  rejected: string | null = null;
  private readonly base: RolloutState;
  private readonly table: HostTable;
  private editor: HostTableEditor | null = null;
  private readonly tracker: HostTracker;
  /** Positions handed out by `takeDue` and not yet given back. */
  private taken: number[] = [];
  private readonly actions: RolloutAction[] = [];
  private touched = false;
  private stepsOwned = false;
  private logOwned = false;
  private countersOwned = false;

  constructor(base: RolloutState, now: number) {
    this.base = base;
    this.s = fieldsOf(base);
    this.table = hostTableOf(base);
    this.tracker = HostTracker.of(this.table, base.spec, base.steps.length);
    this.now = now;
    this.timersDue = base.wakeAtMs !== null && now >= base.wakeAtMs;
  }

  /** Whether anything in the state changed so far in this decision. */
  get changed(): boolean {
    return this.touched;
  }

  host(hostId: string): HostProgress | undefined {
    const at = this.table.positionOf(hostId);
    return at === undefined ? undefined : this.at(at);
  }

  /** Hosts as they are now that `test` picks, in plan order. Walks every host. */
  hostsWhere(test: (h: HostProgress) => boolean): HostProgress[] {
    const out: HostProgress[] = [];
    this.walk((h) => {
      if (test(h)) out.push(h);
    });
    return out;
  }

  /** When the step's last host passed or failed (not before it started); null while any is undecided. */
  stepDoneAt(step: StepProgress): number | null {
    return this.tracker.stepDoneAt(step.index, step.startedAtMs);
  }

  /**
   * Hosts with a time at or before now, in plan order. Give them back with `keepTaken` once
   * looked at (each is then tracked as it is by then).
   */
  takeDue(): HostProgress[] {
    const positions = this.tracker.takeDue(this.now);
    for (const p of positions) this.taken.push(p);
    return positions.map((p) => this.at(p) as HostProgress);
  }

  keepTaken(): void {
    for (const at of this.taken) this.tracker.keep(at, this.at(at) as HostProgress);
    this.taken = [];
  }

  set(patch: Partial<RolloutFields>): void {
    const cur = this.s as unknown as Record<string, unknown>;
    const diff = Object.entries(patch).filter(([k, v]) => !sameValue(cur[k], v));
    if (diff.length === 0) return;
    this.touched = true;
    Object.assign(this.s, Object.fromEntries(diff));
  }

  patchHost(hostId: string, patch: Partial<HostProgress>): void {
    const at = this.table.positionOf(hostId);
    if (at === undefined) return;
    const cur = this.at(at) as HostProgress;
    const rec = cur as unknown as Record<string, unknown>;
    if (Object.entries(patch).every(([k, v]) => sameValue(rec[k], v))) return;
    this.touched = true;
    this.editor ??= this.table.edit();
    const next: HostProgress = { ...cur, ...patch };
    this.editor.set(at, next);
    this.recount(cur, next);
    this.tracker.hostChanged(at, cur, next, (visit) => this.walk(visit));
  }

  /** Keeps the counters in step with one host's change, without counting every host again. */
  private recount(before: HostProgress, after: HostProgress): void {
    const from = before.state === after.state ? null : counterOf(before.state);
    const to = before.state === after.state ? null : counterOf(after.state);
    const failed = (after.failedAtMs !== null ? 1 : 0) - (before.failedAtMs !== null ? 1 : 0);
    if (from === null && to === null && failed === 0) return;
    if (!this.countersOwned) {
      this.s.counters = { ...this.s.counters };
      this.countersOwned = true;
    }
    if (from !== null) this.s.counters[from]--;
    if (to !== null) this.s.counters[to]++;
    this.s.counters.failed += failed;
  }

  patchStep(index: number, patch: Partial<StepProgress>): void {
    this.touched = true;
    if (!this.stepsOwned) {
      this.s.steps = [...this.s.steps];
      this.stepsOwned = true;
    }
    this.s.steps[index] = { ...(this.s.steps[index] as StepProgress), ...patch };
  }

  log(kind: RolloutLogKind, actor: Actor, message: string, details: Record<string, unknown>): void {
    this.touched = true;
    if (!this.logOwned) {
      this.s.log = [...this.s.log];
      this.logOwned = true;
    }
    this.s.log.push({ atMs: this.now, kind, actor, message, details });
    const over = this.s.log.length - LOG_KEPT;
    if (over > 0) {
      this.s.log.splice(0, over);
      this.s.logDropped = (this.s.logDropped ?? 0) + over;
    }
  }

  action(a: RolloutAction): void {
    this.actions.push(a);
  }

  /** Refuses the event: the decision hands back the state it was given, untouched. */
  reject(message: string): void {
    this.rejected = message;
  }

  /** The decision failed part-way: what the tracker learnt from it must not outlive it. */
  abandon(): void {
    HostTracker.forget(this.table);
  }

  finish(): Decision {
    let state = this.base;
    let actions = this.actions;
    if (this.rejected !== null) {
      // Hosts may have changed before the refusal: the tracker no longer matches the state given.
      if (this.editor !== null) HostTracker.forget(this.table);
      actions = [{ kind: 'rejected', message: this.rejected }];
    } else if (this.touched) {
      const table = this.editor?.done() ?? this.table;
      this.s.updatedAtMs = this.now;
      this.s.wakeAtMs = wakeAt(this.s, this.tracker);
      state = stateOf(this.s, table);
      HostTracker.moved(this.table, table, this.tracker);
    }
    if (state.wakeAtMs !== null) actions.push({ kind: 'schedule', atMs: state.wakeAtMs });
    return { state, actions };
  }

  private at(position: number): HostProgress | undefined {
    return this.editor !== null ? this.editor.at(position) : this.table.at(position);
  }

  private walk(visit: (h: HostProgress) => void): void {
    if (this.editor !== null) this.editor.forEach(visit);
    else this.table.forEach(visit);
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  // Only small flat records (a report summary, a pause) are compared this way.
  return JSON.stringify(a) === JSON.stringify(b);
}
