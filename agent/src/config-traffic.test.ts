import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, generateKeyPairPem } from '@flotilla/shared';
import { loadAgentConfig } from './config.js';

let dir: string;
let keyFlags: string[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-agent-traffic-config-'));
  const pub = join(dir, 'key.pub');
  writeFileSync(pub, generateKeyPairPem().publicKeyPem);
  keyFlags = ['--trusted-key', pub, '--controller-public-key', pub];
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const withFile = (yaml: string): string[] => {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, yaml);
  return [...keyFlags, '--config', path];
};

describe('agent traffic settings', () => {
  it('default to no balancer, with the stock nginx commands ready', () => {
    const t = loadAgentConfig(keyFlags, {}).traffic;
    expect(t.balancer).toBe('none');
    expect(t.nginx).toEqual({
      includeDir: '/etc/nginx/flotilla',
      testCommand: ['nginx', '-t'],
      reloadCommand: ['nginx', '-s', 'reload'],
      commandTimeoutMs: 30_000,
    });
    expect(t.stickiness).toBe('none');
    expect(t.keepalive).toBe(16);
    expect(t.drainWaitMs).toBe(2000);
    expect(t.hooks).toEqual({ timeoutMs: 30_000 });
  });

  it('read nginx, a hash key, hooks and durations from the file', () => {
    const t = loadAgentConfig(
      withFile(
        [
          'traffic:',
          '  balancer: nginx',
          '  nginx: { includeDir: /srv/nginx/up, reloadCommand: "systemctl reload nginx", commandTimeout: 5s }',
          '  stickiness: { hash: $cookie_session }',
          '  keepalive: 0',
          '  drainWait: 500ms',
          '  hooks: { drain: [/usr/local/bin/lb, drain], timeout: 3s }',
        ].join('\n'),
      ),
      {},
    ).traffic;
    expect(t.balancer).toBe('nginx');
    expect(t.nginx.includeDir).toBe('/srv/nginx/up');
    expect(t.nginx.reloadCommand).toBe('systemctl reload nginx');
    expect(t.nginx.commandTimeoutMs).toBe(5000);
    expect(t.stickiness).toEqual({ hash: '$cookie_session' });
    expect(t.keepalive).toBe(0);
    expect(t.drainWaitMs).toBe(500);
    expect(t.hooks).toEqual({ drain: ['/usr/local/bin/lb', 'drain'], timeoutMs: 3000 });
  });

  it('refuse an unknown balancer and a hash key that would inject nginx config', () => {
    expect(() => loadAgentConfig(withFile('traffic: { balancer: haproxy }'), {})).toThrow(ConfigError);
    expect(() => loadAgentConfig(withFile('traffic: { stickiness: { hash: "$x; }" } }'), {})).toThrow(/traffic\.stickiness/);
  });
});
