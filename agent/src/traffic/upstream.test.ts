import { describe, expect, it } from 'vitest';
import { parseManifest } from '@flotilla/shared';
import { slotEnv, splitWeights, withHostSlots } from './slots.js';
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

describe('withHostSlots', () => {
  const manifestOf = (extra: object) => parseManifest(JSON.stringify({ start: { command: 'x' }, ...extra }));
  const hostSlots = [{ host: '127.0.0.1', port: 9081 }, { host: '127.0.0.1', port: 9082 }] as const;

  it("puts the host's slots in place of the manifest's, so the app's port and the balancer's address follow them", () => {
    const m = withHostSlots(manifestOf({ traffic: { slots: [{ port: 8081 }, { port: 8082 }] } }), [...hostSlots]);
    expect(slotEnv(m.traffic!, 'b').PORT).toBe('9082');
    expect(splitWeights(m.traffic!, 'a', 100).map((s) => s.address)).toEqual(['127.0.0.1:9081', '127.0.0.1:9082']);
  });

  it('leaves an app without slots as it is: a host setting alone does not make it run beside', () => {
    const m = manifestOf({});
    expect(withHostSlots(m, [...hostSlots])).toBe(m);
    expect(withHostSlots(m, [...hostSlots]).traffic).toBeUndefined();
  });
});

describe('renderUpstream', () => {
  it("names the upstream as the host's config says", () => {
    const text = renderUpstream('web', splitWeights(traffic, 'a', 100), { stickiness: 'none', keepalive: 0, upstream: 'web_blue' });
    expect(text.split('\n')[1]).toBe('upstream web_blue {');
  });

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
