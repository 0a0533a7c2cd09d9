import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadFlotillaProto, type DownloadChunk } from '@flotilla/proto';
import { decodeDownloadChunk } from './download.js';

const encode = loadFlotillaProto().Artifacts.service.Download!.responseSerialize as (m: DownloadChunk) => Buffer;

describe('decodeDownloadChunk', () => {
  it('reads what protobufjs writes, for every size of offset and data', () => {
    for (const offset of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1]) {
      for (const length of [0, 1, 128, 4096, 256 * 1024]) {
        const data = randomBytes(length);
        const decoded = decodeDownloadChunk(encode({ offset: String(offset), data }));
        expect(decoded.offset).toBe(String(offset));
        expect(decoded.data.equals(data)).toBe(true);
      }
    }
  });

  it('hands out a view of the message, not a copy', () => {
    const message = encode({ offset: '42', data: Buffer.from('release bytes') });
    const decoded = decodeDownloadChunk(message);
    expect(decoded.data.buffer).toBe(message.buffer);
    expect(decoded.data.toString()).toBe('release bytes');
  });

  it('takes absent fields as their defaults', () => {
    expect(decodeDownloadChunk(Buffer.alloc(0))).toEqual({ offset: '0', data: Buffer.alloc(0) });
    expect(decodeDownloadChunk(Buffer.from([0x12, 0x02, 0x61, 0x62]))).toEqual({ offset: '0', data: Buffer.from('ab') });
  });

  it('skips fields a later controller may add, whatever their wire type', () => {
    const known = encode({ offset: '1000', data: Buffer.from('xyz') });
    const extra = Buffer.from([
      0x18, 0x96, 0x01, // field 3, varint 150
      0x22, 0x03, 0x01, 0x02, 0x03, // field 4, 3 bytes
      0x2d, 0x01, 0x02, 0x03, 0x04, // field 5, fixed32
      0x31, 1, 2, 3, 4, 5, 6, 7, 8, // field 6, fixed64
    ]);
    const decoded = decodeDownloadChunk(Buffer.concat([extra, known]));
    expect(decoded).toEqual({ offset: '1000', data: Buffer.from('xyz') });
  });

  it('refuses a truncated or malformed message', () => {
    const whole = encode({ offset: '300', data: Buffer.from('abcdef') });
    expect(() => decodeDownloadChunk(whole.subarray(0, whole.length - 1))).toThrow(/past the end/);
    expect(() => decodeDownloadChunk(Buffer.from([0x08, 0x80]))).toThrow(/inside a varint/);
    expect(() => decodeDownloadChunk(Buffer.from([0x2d, 0x01]))).toThrow(/inside a field/);
    expect(() => decodeDownloadChunk(Buffer.from([0x0b]))).toThrow(/wire type 3/);
    expect(() => decodeDownloadChunk(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(/64 bits/);
    expect(() => decodeDownloadChunk(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))).toThrow(/2\^53/);
  });
});
