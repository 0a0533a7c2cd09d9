import { describe, expect, it } from 'vitest';
import { parseManifest } from '@flotilla/shared';
import { slotEnv, splitWeights } from './slots.js';
import { UPSTREAM_MARKER, renderUpstream } from './upstream.js';

const traffic = parseManifest(JSON.stringify({ start: { command: 'x' }, traffic: { slots: [{ port: 8081 }, { socket: '/run/web/b.sock' }] } }))
  .traffic!;

describe('slots', () => {
  it('give the app its port or socket, and split weights between the two', () => {
    expect(slotEnv(traffic, 'a')).toEqual({
      FLOTILLA_SLOT: 'a',
      FLOTILLA_SLOT_ADDRESS: '127.0.0.1:8081',
      PORT: '8081',
      FLOTILLA_SLOT_PORT: '8081',
      FLOTILLA_SLOT_HOST: '127.0.0.1',
    });
    expect(slotEnv(traffic, 'b')).toEqual({ FLOTILLA_SLOT: 'b', FLOTILLA_SLOT_ADDRESS: 'unix:/run/web/b.sock', FLOTILLA_SLOT_SOCKET: '/run/web/b.sock' });
    expect(splitWeights(traffic, 'b', 10)).toEqual([
      { slot: 'a', address: '127.0.0.1:8081', weight: 90 },
      { slot: 'b', address: 'unix:/run/web/b.sock', weight: 10 },
    ]);
  });
});

describe('renderUpstream', () => {
  it('writes both slots with their weights, 0% as down, stickiness and keepalive', () => {
    const text = renderUpstream('web', splitWeights(traffic, 'b', 0), { stickiness: 'ip_hash', keepalive: 16 });
    expect(text.startsWith(UPSTREAM_MARKER)).toBe(true);
    expect(text.split('\n').slice(1)).toEqual([
      'upstream flotilla_web {',
      '    ip_hash;',
      '    server 127.0.0.1:8081 weight=100; # slot a',
      '    server unix:/run/web/b.sock down; # slot b',
      '    keepalive 16;',
      '}',
      '',
    ]);
  });

  it('uses a consistent hash key and leaves keepalive out at 0', () => {
    const text = renderUpstream('web', splitWeights(traffic, 'a', 25), { stickiness: { hash: '$cookie_session' }, keepalive: 0 });
    expect(text).toContain('    hash $cookie_session consistent;\n');
    expect(text).toContain('server 127.0.0.1:8081 weight=25;');
    expect(text).toContain('server unix:/run/web/b.sock weight=75;');
    expect(text).not.toContain('keepalive');
  });
});
