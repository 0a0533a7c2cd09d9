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

  it("read an app's own slots, upstream file, upstream name and reload command on this host", () => {
    const apps = loadAgentConfig(
      withFile(
        [
          'apps:',
          '  web:',
          '    traffic:',
          '      slots: [{ port: 9081 }, { socket: /run/web/b.sock }]',
          '      nginx: { includeFile: /etc/nginx/flotilla/web-blue.conf, upstream: web_blue, reloadCommand: "systemctl reload nginx-blue" }',
        ].join('\n'),
      ),
      {},
    ).apps;
    expect(apps.web?.traffic).toEqual({
      slots: [{ host: '127.0.0.1', port: 9081 }, { host: '127.0.0.1', socket: '/run/web/b.sock' }],
      nginx: { includeFile: '/etc/nginx/flotilla/web-blue.conf', upstream: 'web_blue', reloadCommand: 'systemctl reload nginx-blue' },
    });
  });

  it("refuse an app's traffic settings that are wrong, naming the field", () => {
    const refused = (yaml: string): string => {
      try {
        loadAgentConfig(withFile(yaml), {});
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused('apps: { web: { traffic: { slots: [{ port: 9081 }, { port: 9081 }] } } }')).toMatch(/apps\.web\.traffic\.slots.*the two slots must differ/);
    expect(refused('apps: { web: { traffic: { slots: [{ port: 9081 }] } } }')).toMatch(/apps\.web\.traffic\.slots/);
    expect(refused('apps: { web: { traffic: { slots: [{ port: 9081 }, { port: 70000 }] } } }')).toMatch(/apps\.web\.traffic\.slots\.1\.port/);
    expect(refused('apps: { web: { traffic: { nginx: { upstream: "web; }" } } } }')).toMatch(/apps\.web\.traffic\.nginx\.upstream.*not an nginx upstream name/);
    expect(refused('apps: { web: { traffic: { nginx: { includeFile: /etc/nginx/nginx.conf.bak } } } }')).toMatch(/apps\.web\.traffic\.nginx\.includeFile.*\.conf/);
    expect(refused('apps: { web: { traffic: { nginx: { reloadCommand: [] } } } }')).toMatch(/apps\.web\.traffic\.nginx\.reloadCommand/);
    expect(refused('apps: { web: { traffic: { weights: 5 } } }')).toMatch(/apps\.web\.traffic.*weights/);
    // Two apps on one upstream would undo each other's weights.
    expect(refused('apps: { web: {}, api: { traffic: { nginx: { upstream: flotilla_web } } } }')).toMatch(
      /apps\.api\.traffic\.nginx\.upstream.*flotilla_web is also the upstream of app web/,
    );
    expect(
      refused('traffic: { nginx: { includeDir: /etc/nginx/up } }\napps: { web: {}, api: { traffic: { nginx: { includeFile: /etc/nginx/up/flotilla-web.conf } } } }'),
    ).toMatch(/apps\.api\.traffic\.nginx\.includeFile.*is also the upstream file of app web/);
  });

  it('refuse an unknown balancer and a hash key that would inject nginx config', () => {
    expect(() => loadAgentConfig(withFile('traffic: { balancer: haproxy }'), {})).toThrow(ConfigError);
    expect(() => loadAgentConfig(withFile('traffic: { stickiness: { hash: "$x; }" } }'), {})).toThrow(/traffic\.stickiness/);
  });
});
