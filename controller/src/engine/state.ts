import { HostTable } from './host-table.js';
import type { HostProgress, RolloutState } from './types.js';

/*
 * How a state holds its hosts. Serialised, a state is plain JSON with `hosts` an array. In
 * memory the engine keeps them in a persistent HostTable (one host changed costs a few small
 * copies, not a copy of every host) and `state.hosts` is a frozen array built from the table on
 * first read: readers see the array they always did, the engine never builds it. A state that
 * arrives as plain JSON (from KV, or a test's round trip) gets its table on first use.
 */

/** Everything in a state but its hosts. */
export type RolloutFields = Omit<RolloutState, 'hosts'>;

const TABLE = Symbol('flotilla.rollout.hosts');

/** Tables of plain host arrays already seen, and of the arrays handed out by `state.hosts`. */
const tables = new WeakMap<readonly HostProgress[], HostTable>();

/** The host table behind a state; built (O(hosts), once per array) for a state read from JSON. */
export function hostTableOf(state: RolloutState): HostTable {
  const own = (state as { [TABLE]?: HostTable })[TABLE];
  if (own !== undefined) return own;
  const hosts = state.hosts;
  let table = tables.get(hosts);
  if (table === undefined) {
    table = HostTable.of(hosts);
    tables.set(hosts, table);
  }
  return table;
}

/** A state of these fields and hosts. Keys come in the order of RolloutState. */
export function stateOf(f: RolloutFields, table: HostTable): RolloutState {
  const state: RolloutState = {
    schema: f.schema,
    id: f.id,
    spec: f.spec,
    status: f.status,
    stableVersion: f.stableVersion,
    hostCount: f.hostCount,
    failureLimit: f.failureLimit,
    steps: f.steps,
    currentStep: f.currentStep,
    get hosts(): readonly HostProgress[] {
      const view = table.toArray();
      tables.set(view, table);
      return view;
    },
    pause: f.pause,
    promotedAtMs: f.promotedAtMs,
    stabiliseUntilMs: f.stabiliseUntilMs,
    wakeAtMs: f.wakeAtMs,
    counters: f.counters,
    createdAtMs: f.createdAtMs,
    updatedAtMs: f.updatedAtMs,
    finishedAtMs: f.finishedAtMs,
    endReason: f.endReason,
    endedBy: f.endedBy,
    log: f.log,
    logDropped: f.logDropped,
    ...(f.trafficStep !== undefined ? { trafficStep: f.trafficStep } : {}),
  };
  Object.defineProperty(state, TABLE, { value: table, enumerable: false });
  return state;
}

/** The fields of a state, as a new object (its hosts are not read). */
export function fieldsOf(s: RolloutState): RolloutFields {
  return {
    schema: s.schema,
    id: s.id,
    spec: s.spec,
    status: s.status,
    stableVersion: s.stableVersion,
    hostCount: s.hostCount,
    failureLimit: s.failureLimit,
    steps: s.steps,
    currentStep: s.currentStep,
    pause: s.pause,
    promotedAtMs: s.promotedAtMs,
    stabiliseUntilMs: s.stabiliseUntilMs,
    wakeAtMs: s.wakeAtMs,
    counters: s.counters,
    createdAtMs: s.createdAtMs,
    updatedAtMs: s.updatedAtMs,
    finishedAtMs: s.finishedAtMs,
    endReason: s.endReason,
    endedBy: s.endedBy,
    log: s.log,
    logDropped: s.logDropped,
    ...(s.trafficStep !== undefined ? { trafficStep: s.trafficStep } : {}),
  };
}
