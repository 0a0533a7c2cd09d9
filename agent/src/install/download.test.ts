import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadFlotillaProto, type DownloadChunk, type DownloadChunk__Output } from '@flotilla/proto';

// The agent's client decodes Download messages with the deserializer loaded from the proto; the
// download path relies on it handing out the bytes without copying them.
const download = loadFlotillaProto().Artifacts.service.Download!;
const encode = download.responseSerialize as (m: DownloadChunk) => Buffer;
const decode = download.responseDeserialize as (b: Buffer) => DownloadChunk__Output;

describe('the Download messages the agent receives', () => {
  it('read back what the controller writes, for every size of offset and data', () => {
    for (const offset of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1]) {
      for (const length of [0, 1, 128, 4096, 256 * 1024]) {
        const data = randomBytes(length);
        const decoded = decode(encode({ offset: String(offset), data }));
        expect(decoded.offset).toBe(String(offset));
        expect(Buffer.from(decoded.data).equals(data)).toBe(true);
      }
    }
  });

  it('hand out a view of the message, not a copy', () => {
    const message = encode({ offset: '42', data: Buffer.from('release bytes') });
    const decoded = decode(message);
    expect(decoded.data.buffer).toBe(message.buffer);
    expect(Buffer.from(decoded.data).toString()).toBe('release bytes');
  });

  it('take absent fields as their defaults', () => {
    expect(Number(decode(Buffer.alloc(0)).offset)).toBe(0);
    expect(decode(Buffer.alloc(0)).data.length).toBe(0);
    const onlyData = decode(Buffer.from([0x12, 0x02, 0x61, 0x62]));
    expect(Number(onlyData.offset)).toBe(0);
    expect(Buffer.from(onlyData.data).toString()).toBe('ab');
  });

  it('skip fields a later controller may add, whatever their wire type', () => {
    const known = encode({ offset: '1000', data: Buffer.from('xyz') });
    const extra = Buffer.from([
      0x18, 0x96, 0x01, // field 3, varint 150
      0x22, 0x03, 0x01, 0x02, 0x03, // field 4, 3 bytes
      0x2d, 0x01, 0x02, 0x03, 0x04, // field 5, fixed32
      0x31, 1, 2, 3, 4, 5, 6, 7, 8, // field 6, fixed64
    ]);
    const decoded = decode(Buffer.concat([extra, known]));
    expect(decoded.offset).toBe('1000');
    expect(Buffer.from(decoded.data).toString()).toBe('xyz');
  });

  it('refuse a truncated or malformed message', () => {
    const whole = encode({ offset: '300', data: Buffer.from('abcdef') });
    expect(() => decode(whole.subarray(0, whole.length - 1))).toThrow();
    expect(() => decode(Buffer.from([0x08, 0x80]))).toThrow();
    expect(() => decode(Buffer.from([0x2d, 0x01]))).toThrow();
    expect(() => decode(Buffer.from([0x0b]))).toThrow();
  });
});
