import { describe, expect, it } from 'vitest';
import { parseManifest } from './manifest.js';

const withTraffic = (traffic: unknown): string => JSON.stringify({ start: { command: 'node server.js' }, traffic });

describe('manifest traffic section', () => {
  it('reads two port slots, defaulting their host to loopback', () => {
    const m = parseManifest(withTraffic({ slots: [{ port: 8081 }, { port: 8082 }] }));
    expect(m.traffic?.slots).toEqual([
      { host: '127.0.0.1', port: 8081 },
      { host: '127.0.0.1', port: 8082 },
    ]);
  });

  it('reads socket slots', () => {
    const m = parseManifest(withTraffic({ slots: [{ socket: '/run/web/a.sock' }, { socket: '/run/web/b.sock' }] }));
    expect(m.traffic?.slots[1]?.socket).toBe('/run/web/b.sock');
  });

  it('is absent for an app served directly', () => {
    expect(parseManifest(withTraffic(undefined)).traffic).toBeUndefined();
  });

  it('refuses one slot, equal slots, both port and socket, and sockets that could break the balancer config', () => {
    expect(() => parseManifest(withTraffic({ slots: [{ port: 8081 }] }))).toThrow(/traffic\.slots/);
    expect(() => parseManifest(withTraffic({ slots: [{ port: 8081 }, { port: 8081 }] }))).toThrow(/the two slots must differ/);
    expect(() => parseManifest(withTraffic({ slots: [{ port: 8081, socket: '/a.sock' }, { port: 8082 }] }))).toThrow(
      /exactly one of port or socket/,
    );
    expect(() => parseManifest(withTraffic({ slots: [{ socket: '/a.sock; }' }, { port: 8082 }] }))).toThrow(/absolute path/);
    expect(() => parseManifest(withTraffic({ slots: [{ host: 'a b', port: 1 }, { port: 8082 }] }))).toThrow(/host name/);
  });
});
