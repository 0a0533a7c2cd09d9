import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { decodeHeartbeatTick, encodeHeartbeatTick, isHeartbeatTick, tickOfferOf, tickableBootId, type HeartbeatTick } from './heartbeat-tick.js';
import { encodeMessage } from './messages.js';

const tick: HeartbeatTick = {
  bootId: '3f2a9c1e-8b7d-4e6f-a5c4-1b2d3e4f5a6b',
  n: 42,
  basisN: 40,
  sentAtMs: 1_760_000_000_123,
  load: { cpuPercent: 12.5, memUsedBytes: 2 * 1024 ** 3, memTotalBytes: 8 * 1024 ** 3, diskFreeBytes: 40 * 1024 ** 3 },
};

/** The tick's bytes with the float64 at `field` (0: n … 6: diskFreeBytes) replaced. */
function withNumber(field: number, value: number): Uint8Array {
  const bytes = encodeHeartbeatTick(tick);
  new DataView(bytes.buffer).setFloat64(2 + tick.bootId.length + field * 8, value, true);
  return bytes;
}

describe('heartbeat tick', () => {
  it('reads back what was written, in 94 bytes for a UUID boot id', () => {
    const bytes = encodeHeartbeatTick(tick);
    expect(bytes.length).toBe(94);
    expect(isHeartbeatTick(bytes)).toBe(true);
    expect(decodeHeartbeatTick(bytes)).toEqual(tick);
  });

  it('reads a tick lying inside a larger buffer, as a NATS message body does', () => {
    const bytes = encodeHeartbeatTick(tick);
    const frame = new Uint8Array(bytes.length + 20);
    frame.set(bytes, 7);
    expect(decodeHeartbeatTick(frame.subarray(7, 7 + bytes.length))).toEqual(tick);
  });

  it('is told apart from a JSON heartbeat by its first byte', () => {
    expect(isHeartbeatTick(encodeMessage({ type: 'heartbeat' }))).toBe(false);
    expect(isHeartbeatTick(new Uint8Array(0))).toBe(false);
  });

  it.each([
    ['an empty body', () => new Uint8Array([1])],
    ['a body cut short', () => encodeHeartbeatTick(tick).subarray(0, 60)],
    ['a body with bytes after the load', () => Uint8Array.from([...encodeHeartbeatTick(tick), 0])],
    ['a boot id length of 0', () => Uint8Array.from(encodeHeartbeatTick(tick), (b, i) => (i === 1 ? 0 : b))],
    ['a boot id length over 64', () => Uint8Array.from(encodeHeartbeatTick(tick), (b, i) => (i === 1 ? 65 : b))],
    ['a boot id length that disagrees with the body', () => Uint8Array.from(encodeHeartbeatTick(tick), (b, i) => (i === 1 ? 30 : b))],
    ['a space in the boot id', () => Uint8Array.from(encodeHeartbeatTick(tick), (b, i) => (i === 5 ? 0x20 : b))],
    ['a non-ASCII byte in the boot id', () => Uint8Array.from(encodeHeartbeatTick(tick), (b, i) => (i === 5 ? 0xc3 : b))],
    ['n = 0', () => withNumber(0, 0)],
    ['a fractional n', () => withNumber(0, 41.5)],
    ['n beyond the safe integers', () => withNumber(0, 2 ** 53)],
    ['a NaN n', () => withNumber(0, NaN)],
    ['basisN = n', () => withNumber(1, 42)],
    ['basisN above n', () => withNumber(1, 43)],
    ['basisN = 0', () => withNumber(1, 0)],
    ['a negative sentAtMs', () => withNumber(2, -1)],
    ['an infinite sentAtMs', () => withNumber(2, Infinity)],
    ['a NaN cpuPercent', () => withNumber(3, NaN)],
    ['a negative memUsedBytes', () => withNumber(4, -5)],
    ['an infinite memTotalBytes', () => withNumber(5, Infinity)],
    ['a negative diskFreeBytes', () => withNumber(6, -Infinity)],
  ])('refuses %s', (_what, bytes) => {
    expect(() => decodeHeartbeatTick(bytes())).toThrow(ValidationError);
  });

  it('refuses to write a boot id that cannot travel in a tick', () => {
    expect(tickableBootId('boot 1')).toBe(false);
    expect(tickableBootId('x'.repeat(65))).toBe(false);
    expect(tickableBootId('')).toBe(false);
    expect(() => encodeHeartbeatTick({ ...tick, bootId: 'bööt' })).toThrow(ValidationError);
  });

  it('reads the offer of a sync reply, and nothing from an older controller or a bad one', () => {
    expect(tickOfferOf({ type: 'sync-reply', assignment: null, heartbeatTicks: { fullEvery: 10 } })).toEqual({ fullEvery: 10 });
    expect(tickOfferOf({ type: 'sync-reply', assignment: null })).toBeNull();
    expect(tickOfferOf({ heartbeatTicks: { fullEvery: 0 } })).toBeNull();
    expect(tickOfferOf({ heartbeatTicks: { fullEvery: 2.5 } })).toBeNull();
    expect(tickOfferOf({ heartbeatTicks: { fullEvery: 1e9 } })).toBeNull();
    expect(tickOfferOf({ heartbeatTicks: 'yes' })).toBeNull();
    expect(tickOfferOf(null)).toBeNull();
  });
});
