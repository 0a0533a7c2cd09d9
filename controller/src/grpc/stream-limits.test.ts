import { describe, expect, it } from 'vitest';
import { ResourceExhaustedError } from '@flotilla/shared';
import { DiskRoom } from './disk-room.js';
import { StreamLimits, peerAddress, type StreamRefusal } from './stream-limits.js';

describe('StreamLimits', () => {
  it('refuses a stream past the per-peer, upload and overall limits, and counts each refusal', () => {
    const refused: StreamRefusal[] = [];
    const limits = new StreamLimits({ maxStreams: 4, maxStreamsPerPeer: 2, maxUploads: 1 }, (r) => refused.push(r));
    const a1 = limits.acquire('10.0.0.1', 'download');
    limits.acquire('10.0.0.1', 'upload');
    expect(() => limits.acquire('10.0.0.1', 'download')).toThrow(/10\.0\.0\.1 already has 2 artifact streams open \(limits\.maxStreamsPerPeer 2\)/);
    expect(() => limits.acquire('10.0.0.2', 'upload')).toThrow(ResourceExhaustedError);
    limits.acquire('10.0.0.2', 'download');
    limits.acquire('10.0.0.3', 'download');
    expect(() => limits.acquire('10.0.0.4', 'download')).toThrow(/already serves 4 artifact streams \(limits\.maxStreams 4\)/);
    expect(refused).toEqual(['peer-streams', 'uploads', 'streams']);
    // Giving a place back twice gives back one.
    a1();
    a1();
    expect(limits.counts()).toEqual({ streams: 3, uploads: 1, peers: 3 });
    limits.acquire('10.0.0.4', 'download');
    expect(() => limits.acquire('10.0.0.5', 'download')).toThrow(ResourceExhaustedError);
  });

  it('budgets by address, not by connection', () => {
    expect(peerAddress('ipv4:127.0.0.1:51234')).toBe('127.0.0.1');
    expect(peerAddress('ipv6:[::1]:51234')).toBe('::1');
    expect(peerAddress('unix:/run/flotilla.sock')).toBe('/run/flotilla.sock');
  });
});

describe('DiskRoom', () => {
  it('refuses an upload bigger than the free space left by uploads in progress, naming the sizes', async () => {
    const room = new DiskRoom('/data', async () => 1000);
    const first = await room.reserve('web@1.0.0', 600);
    await expect(room.reserve('web@2.0.0', 500)).rejects.toThrow(
      'web@2.0.0 is 500 bytes, but the controller\'s artifact disk has only 400 bytes free (1000 free, 600 held by uploads in progress); nothing was written',
    );
    first();
    await expect(room.reserve('web@2.0.0', 500)).resolves.toBeTypeOf('function');
  });
});
