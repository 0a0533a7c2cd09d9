import type { Manifest, SlotSpec, TrafficSpec } from '@flotilla/shared';

/** The two places a release of an app can run side by side; `a` is the manifest's first slot. */
export const SLOT_NAMES = ['a', 'b'] as const;
export type SlotName = (typeof SLOT_NAMES)[number];

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'a' ? 'b' : 'a';
}

/**
 * The manifest as this host runs it: the app says it is served from two slots, and the host's
 * config may say where they are here (several agents on one machine cannot share ports). A host
 * setting alone does not make an app without slots run beside.
 */
export function withHostSlots(manifest: Manifest, hostSlots: TrafficSpec['slots'] | undefined): Manifest {
  if (manifest.traffic === undefined || hostSlots === undefined) return manifest;
  return { ...manifest, traffic: { ...manifest.traffic, slots: hostSlots } };
}

export function slotSpec(traffic: TrafficSpec, slot: SlotName): SlotSpec {
  return traffic.slots[slot === 'a' ? 0 : 1] as SlotSpec;
}

/** The address as a balancer names it: `127.0.0.1:8081`, or `unix:/run/web/a.sock`. */
export function slotAddress(spec: SlotSpec): string {
  if (spec.socket !== undefined) return `unix:${spec.socket}`;
  return spec.host.includes(':') ? `[${spec.host}]:${spec.port}` : `${spec.host}:${spec.port}`;
}

/**
 * What a release started in a slot finds in its environment, so one command line serves both
 * slots: `PORT` (and FLOTILLA_SLOT_PORT) or FLOTILLA_SLOT_SOCKET, the slot's name and its address.
 */
export function slotEnv(traffic: TrafficSpec, slot: SlotName): Record<string, string> {
  const spec = slotSpec(traffic, slot);
  const env: Record<string, string> = { FLOTILLA_SLOT: slot, FLOTILLA_SLOT_ADDRESS: slotAddress(spec) };
  if (spec.port !== undefined) {
    env.PORT = String(spec.port);
    env.FLOTILLA_SLOT_PORT = String(spec.port);
    env.FLOTILLA_SLOT_HOST = spec.host;
  }
  if (spec.socket !== undefined) env.FLOTILLA_SLOT_SOCKET = spec.socket;
  return env;
}

/** One slot's share of an app's traffic, as a balancer is told it. */
export interface SlotWeight {
  readonly slot: SlotName;
  readonly address: string;
  /** Percent of new requests, 0-100; 0 means the balancer sends it none (drained). */
  readonly weight: number;
}

/** Both slots with `weight` percent on `slot` and the rest on the other one. */
export function splitWeights(traffic: TrafficSpec, slot: SlotName, weight: number): SlotWeight[] {
  const w = Math.max(0, Math.min(100, Math.round(weight)));
  return SLOT_NAMES.map((s) => ({ slot: s, address: slotAddress(slotSpec(traffic, s)), weight: s === slot ? w : 100 - w }));
}
