import { ValidationError } from './errors.js';
import type { LoadFigures } from './messages.js';

/**
 * The heartbeat tick: a fixed binary form of a heartbeat that says only what changes every
 * interval (its counter, its send time, the host's load) and names the full JSON heartbeat it
 * builds on. Everything else a heartbeat says (apps, labels, accepted seq, trust, interval) is as
 * that full heartbeat said it. An agent sends a full heartbeat whenever any of that changes, on
 * every (re)connect, and at least every `fullEvery` beats, and ticks in between, but only to a
 * controller that offered ticks in its sync reply.
 *
 * Why: every host sends one a second, and parsing and checking a JSON heartbeat of a few hundred
 * bytes was most of the controller's work at 25,000 hosts. A tick is read with a few fixed-offset
 * loads, checks in constant time, and allocates one short string.
 *
 * Layout (little-endian), on the same subject as the JSON heartbeat (`<prefix>.v1.heartbeat.<host>`):
 *
 *   offset  size  field
 *   0       1     format: TICK_FORMAT (1). A JSON heartbeat starts with `{` (0x7b), so the first
 *                 byte tells the two apart.
 *   1       1     L, the boot id's length in bytes, 1..MAX_TICK_BOOT_ID
 *   2       L     the boot id, printable ASCII (0x21..0x7e)
 *   2+L     8     n, the heartbeat counter of this boot (float64, a positive safe integer)
 *   10+L    8     basisN: n of the full heartbeat this tick builds on (positive safe integer, < n)
 *   18+L    8     sentAtMs (float64, finite, ≥ 0)
 *   26+L    32    load: cpuPercent, memUsedBytes, memTotalBytes, diskFreeBytes (float64 each, finite, ≥ 0)
 *
 * The host is the one the subject names: a tick has no host id of its own, so there is no second
 * name to disagree with the subject, and it can only touch the state of that host's own boot.
 */
export interface HeartbeatTick {
  readonly bootId: string;
  readonly n: number;
  readonly basisN: number;
  readonly sentAtMs: number;
  readonly load: LoadFigures;
}

export const TICK_FORMAT = 1;
/** Boot ids longer than this, or not printable ASCII, are sent in full heartbeats only. */
export const MAX_TICK_BOOT_ID = 64;
const FIXED_BYTES = 2 + 7 * 8;

/** Whether a heartbeat body is a tick (else JSON). */
export function isHeartbeatTick(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === TICK_FORMAT;
}

/** Whether `bootId` can travel in a tick. */
export function tickableBootId(bootId: string): boolean {
  if (bootId.length < 1 || bootId.length > MAX_TICK_BOOT_ID) return false;
  for (let i = 0; i < bootId.length; i++) {
    const c = bootId.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

export function encodeHeartbeatTick(tick: HeartbeatTick): Uint8Array {
  if (!tickableBootId(tick.bootId)) throw new ValidationError('boot id cannot travel in a heartbeat tick');
  const length = tick.bootId.length;
  const out = new Uint8Array(FIXED_BYTES + length);
  out[0] = TICK_FORMAT;
  out[1] = length;
  for (let i = 0; i < length; i++) out[2 + i] = tick.bootId.charCodeAt(i);
  const view = new DataView(out.buffer);
  let at = 2 + length;
  for (const value of [tick.n, tick.basisN, tick.sentAtMs, tick.load.cpuPercent, tick.load.memUsedBytes, tick.load.memTotalBytes, tick.load.diskFreeBytes]) {
    view.setFloat64(at, value, true);
    at += 8;
  }
  return out;
}

/** Reads and checks a tick; throws ValidationError naming what is wrong. */
export function decodeHeartbeatTick(data: Uint8Array): HeartbeatTick {
  if (data.length < FIXED_BYTES + 1 || data[0] !== TICK_FORMAT) throw new ValidationError('heartbeat tick is too short or of an unknown format');
  const length = data[1] as number;
  if (length < 1 || length > MAX_TICK_BOOT_ID) throw new ValidationError('heartbeat tick boot id length is out of bounds');
  if (data.length !== FIXED_BYTES + length) throw new ValidationError(`heartbeat tick is ${data.length} bytes, not ${FIXED_BYTES + length}`);
  for (let i = 2; i < 2 + length; i++) {
    const c = data[i] as number;
    if (c < 0x21 || c > 0x7e) throw new ValidationError('heartbeat tick boot id is not printable ASCII');
  }
  // One flat string at once (appending a character at a time builds a rope to flatten later).
  const bootId = String.fromCharCode.apply(null, data.subarray(2, 2 + length) as unknown as number[]);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const at = 2 + length;
  const n = view.getFloat64(at, true);
  const basisN = view.getFloat64(at + 8, true);
  const sentAtMs = view.getFloat64(at + 16, true);
  const load: LoadFigures = {
    cpuPercent: view.getFloat64(at + 24, true),
    memUsedBytes: view.getFloat64(at + 32, true),
    memTotalBytes: view.getFloat64(at + 40, true),
    diskFreeBytes: view.getFloat64(at + 48, true),
  };
  if (!isPositiveInt(n)) throw new ValidationError('heartbeat tick n is not a positive integer');
  if (!isPositiveInt(basisN) || basisN >= n) throw new ValidationError('heartbeat tick basisN is not a positive integer below n');
  if (!isNonNegative(sentAtMs)) throw new ValidationError('heartbeat tick sentAtMs is not a finite non-negative number');
  if (!isNonNegative(load.cpuPercent) || !isNonNegative(load.memUsedBytes) || !isNonNegative(load.memTotalBytes) || !isNonNegative(load.diskFreeBytes)) {
    throw new ValidationError('heartbeat tick load is not finite non-negative numbers');
  }
  return { bootId, n, basisN, sentAtMs, load };
}

function isPositiveInt(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}

function isNonNegative(value: number): boolean {
  return Number.isFinite(value) && value >= 0;
}

/**
 * What a controller offers in its sync reply: ticks are welcome, and a full heartbeat is wanted
 * at least every `fullEvery` beats. An agent that sees no offer sends full heartbeats only.
 */
export interface HeartbeatTickOffer {
  readonly fullEvery: number;
}

/** The offer in a sync reply's body, or null when there is none (an older controller) or it is malformed. */
export function tickOfferOf(body: unknown): HeartbeatTickOffer | null {
  if (typeof body !== 'object' || body === null) return null;
  const offer = (body as { heartbeatTicks?: unknown }).heartbeatTicks;
  if (typeof offer !== 'object' || offer === null) return null;
  const fullEvery = (offer as { fullEvery?: unknown }).fullEvery;
  return Number.isSafeInteger(fullEvery) && (fullEvery as number) >= 1 && (fullEvery as number) <= 3600 ? { fullEvery: fullEvery as number } : null;
}
