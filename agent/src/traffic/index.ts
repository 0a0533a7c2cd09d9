export { BalancerHooks, type HookKind, type HookTarget } from './hooks.js';
export { NginxUpstreams, type CommandRunner, type NginxSettings } from './nginx.js';
export { SLOT_NAMES, otherSlot, slotAddress, slotEnv, slotSpec, splitWeights, withHostSlots, type SlotName, type SlotWeight } from './slots.js';
export { Traffic, type TrafficShifter } from './traffic.js';
export { UPSTREAM_MARKER, renderUpstream, upstreamName, type UpstreamSettings } from './upstream.js';
