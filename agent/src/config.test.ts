import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, generateKeyPairPem, hostIdFromHostname } from '@flotilla/shared';
import { loadAgentConfig, parseAppEnv, parseByteSize } from './config.js';
import { FlagsExitRequest } from './flags.js';

let dir: string;
let releasePub: string;
let releasePub2: string;
let controllerPub: string;
let keyFlags: string[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-agent-config-'));
  releasePub = join(dir, 'release.pub');
  releasePub2 = join(dir, 'release2.pub');
  controllerPub = join(dir, 'controller.pub');
  writeFileSync(releasePub, generateKeyPairPem().publicKeyPem);
  writeFileSync(releasePub2, generateKeyPairPem().publicKeyPem);
  writeFileSync(controllerPub, generateKeyPairPem().publicKeyPem);
  keyFlags = ['--trusted-key', releasePub, '--controller-public-key', controllerPub];
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function writeYaml(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('loadAgentConfig', () => {
  it('fills every default when only the keys are given', () => {
    const c = loadAgentConfig(keyFlags, {});
    expect(c.hostId).toBe(hostIdFromHostname(hostname()));
    expect(c.labels).toEqual({});
    expect(c.nats.servers).toEqual(['nats://127.0.0.1:4222']);
    expect(c.nats.subjectPrefix).toBe('flotilla');
    expect(c.controller.address).toBe('127.0.0.1:7400');
    expect(c.controller.token).toBeUndefined();
    expect(c.dataDir).toBe('/var/lib/flotilla');
    expect(c.heartbeatIntervalMs).toBe(5000);
    expect(c.keepReleases).toBe(5);
    expect(c.minFreeSpace).toEqual({ bytes: 512 * 1024 ** 2 });
    expect(c.apps).toEqual({});
    expect(c.unpack).toEqual({ maxBytes: 2 * 1024 ** 3, maxEntries: 100_000, maxDepth: 64 });
    expect(c.log.level).toBe('info');
    expect(c.releaseKeys).toHaveLength(1);
    expect(c.controllerKeys).toHaveLength(1);
    expect(c.releaseKeys[0]?.source).toBe(releasePub);
  });

  it('returns a frozen object', () => {
    const c = loadAgentConfig(keyFlags, {});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.nats)).toBe(true);
    expect(Object.isFrozen(c.releaseKeys)).toBe(true);
  });

  it('reads FLOTILLA_* environment variables', () => {
    const c = loadAgentConfig([], {
      FLOTILLA_HOST_ID: 'web-01',
      FLOTILLA_LABELS: 'env=prod,zone=a',
      FLOTILLA_NATS_SERVERS: 'nats://a:4222, nats://b:4222',
      FLOTILLA_NATS_USER: 'agent',
      FLOTILLA_NATS_PASSWORD: 's3cret',
      FLOTILLA_CONTROLLER: 'ctl.example:7400, ctl2.example:7400',
      FLOTILLA_API_TOKEN: 'tok',
      FLOTILLA_DATA_DIR: '/srv/flotilla',
      FLOTILLA_TRUSTED_KEYS: `${releasePub},${releasePub2}`,
      FLOTILLA_CONTROLLER_PUBLIC_KEYS: controllerPub,
      FLOTILLA_HEARTBEAT_INTERVAL: '1m30s',
      FLOTILLA_LOG_LEVEL: 'debug',
    });
    expect(c.hostId).toBe('web-01');
    expect(c.labels).toEqual({ env: 'prod', zone: 'a' });
    expect(c.nats.servers).toEqual(['nats://a:4222', 'nats://b:4222']);
    expect(c.nats.user).toBe('agent');
    expect(c.nats.password).toBe('s3cret');
    expect(c.controller).toEqual({ address: 'ctl.example:7400', addresses: ['ctl.example:7400', 'ctl2.example:7400'], token: 'tok' });
    expect(c.dataDir).toBe('/srv/flotilla');
    expect(c.releaseKeys).toHaveLength(2);
    expect(c.heartbeatIntervalMs).toBe(90_000);
    expect(c.log.level).toBe('debug');
  });

  it('reads the YAML file, and flags win over environment and file', () => {
    const file = writeYaml(
      'agent.yaml',
      [
        'hostId: from-file',
        'labels: { env: staging, rack: r1 }',
        'nats: { servers: [nats://file:4222], subjectPrefix: acme }',
        'controller: { address: file:7400 }',
        'dataDir: /data/file',
        `trustedKeys: [${releasePub}]`,
        `controllerPublicKeys: [${controllerPub}]`,
        'heartbeatInterval: 2s',
        'keepReleases: 3',
        'apps: { web: { env: { PORT: "8080", MODE: file } } }',
        'unpack: { maxBytes: 512MiB, maxEntries: 10, maxDepth: 4 }',
        'log: { level: warn, pretty: false }',
      ].join('\n'),
    );
    const fromFile = loadAgentConfig(['--config', file], {});
    expect(fromFile.hostId).toBe('from-file');
    expect(fromFile.labels).toEqual({ env: 'staging', rack: 'r1' });
    expect(fromFile.nats.subjectPrefix).toBe('acme');
    expect(fromFile.heartbeatIntervalMs).toBe(2000);
    expect(fromFile.keepReleases).toBe(3);
    expect(fromFile.apps).toEqual({ web: { env: { PORT: '8080', MODE: 'file' } } });
    expect(fromFile.unpack).toEqual({ maxBytes: 512 * 1024 ** 2, maxEntries: 10, maxDepth: 4 });
    expect(fromFile.log).toEqual({ level: 'warn', pretty: false });

    const c = loadAgentConfig(
      [
        '--config', file,
        '--host-id', 'from-flag',
        '--label', 'env=prod',
        '--label', 'zone=b',
        '--nats', 'nats://flag1:4222,nats://flag2:4222',
        '--data-dir', '/data/flag',
        '--heartbeat-interval', '250ms',
        '--keep-releases', '7',
        '--app-env', 'web:PORT=9090',
        '--log-level', 'error',
        '--log-pretty',
      ],
      { FLOTILLA_HOST_ID: 'from-env', FLOTILLA_CONTROLLER: 'env:7400', FLOTILLA_DATA_DIR: '/data/env' },
    );
    expect(c.hostId).toBe('from-flag');
    expect(c.labels).toEqual({ env: 'prod', zone: 'b' });
    expect(c.nats.servers).toEqual(['nats://flag1:4222', 'nats://flag2:4222']);
    expect(c.controller.address).toBe('env:7400');
    expect(c.dataDir).toBe('/data/flag');
    expect(c.heartbeatIntervalMs).toBe(250);
    expect(c.keepReleases).toBe(7);
    // Per-app settings merge variable by variable: the flag wins for PORT, the file keeps MODE.
    expect(c.apps).toEqual({ web: { env: { PORT: '9090', MODE: 'file' } } });
    expect(c.log).toEqual({ level: 'error', pretty: true });
  });

  it('names the missing release key and the missing controller key', () => {
    const noRelease = configError(() => loadAgentConfig(['--controller-public-key', controllerPub], {}));
    expect(noRelease.message).toContain('trustedKeys');
    expect(noRelease.message).toContain('--trusted-key');
    const noController = configError(() => loadAgentConfig(['--trusted-key', releasePub], {}));
    expect(noController.message).toContain('controllerPublicKeys');
    expect(noController.message).toContain('--controller-public-key');
  });

  it('names a key file that cannot be read or is not a key', () => {
    const missing = join(dir, 'nope.pub');
    expect(configError(() => loadAgentConfig(['--trusted-key', missing, '--controller-public-key', controllerPub], {})).message).toContain(missing);
    const garbage = writeYaml('garbage.pub', 'not a key\n');
    const err = configError(() => loadAgentConfig(['--trusted-key', releasePub, '--controller-public-key', garbage], {}));
    expect(err.message).toContain(garbage);
    expect(err.message).toContain('controllerPublicKeys');
  });

  it('refuses bad values with the setting named', () => {
    expect(configError(() => loadAgentConfig([...keyFlags, '--heartbeat-interval', 'soon'], {})).message).toContain('heartbeatInterval');
    expect(configError(() => loadAgentConfig([...keyFlags, '--keep-releases', 'many'], {})).message).toContain('--keep-releases');
    expect(configError(() => loadAgentConfig([...keyFlags, '--host-id', 'bad host'], {})).message).toContain('hostId');
    expect(configError(() => loadAgentConfig([...keyFlags, '--label', 'novalue'], {})).message).toContain('novalue');
    expect(configError(() => loadAgentConfig([...keyFlags, '--controller', 'nohost'], {})).message).toContain('controller.address');
    expect(configError(() => loadAgentConfig([...keyFlags, '--log-level', 'chatty'], {})).message).toContain('log.level');
    expect(configError(() => loadAgentConfig([...keyFlags, '--frobnicate'], {})).message).toContain('--frobnicate');
    expect(configError(() => loadAgentConfig(keyFlags, { FLOTILLA_MIN_FREE_SPACE: 'plenty' })).message).toContain('minFreeSpace');
    expect(loadAgentConfig(keyFlags, { FLOTILLA_MIN_FREE_SPACE: '5%' }).minFreeSpace).toEqual({ percent: 5 });
    const typo = writeYaml('typo.yaml', 'heartbeatIntervall: 5s\n');
    expect(configError(() => loadAgentConfig([...keyFlags, '--config', typo], {})).message).toContain('heartbeatIntervall');
  });

  it('reads app users: appUser, runAs per app, runAppsAsAgent; none by default', () => {
    const none = loadAgentConfig(keyFlags, {});
    expect(none.appUser).toBeUndefined();
    expect(none.runAppsAsAgent).toBe(false);
    const file = writeYaml('users.yaml', 'appUser: flotilla-app\napps:\n  web:\n    runAs: web-app\n');
    const c = loadAgentConfig([...keyFlags, '--config', file], { FLOTILLA_RUN_APPS_AS_AGENT: 'true' });
    expect(c.appUser).toBe('flotilla-app');
    expect(c.apps['web']).toEqual({ env: {}, runAs: 'web-app' });
    expect(c.runAppsAsAgent).toBe(true);
    const bad = writeYaml('bad-user.yaml', 'apps:\n  web:\n    runAs: "web app"\n');
    expect(configError(() => loadAgentConfig([...keyFlags, '--config', bad], {})).message).toContain('apps.web.runAs');
  });

  it('asks the caller to exit 0 for --help and --version', () => {
    const out = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      expect(() => loadAgentConfig(['--version'], {})).toThrow(FlagsExitRequest);
      expect(() => loadAgentConfig(['--help'], {})).toThrow(FlagsExitRequest);
    } finally {
      process.stdout.write = out;
    }
  });
});

describe('parseAppEnv', () => {
  it('reads APP:NAME=VALUE, keeping ":" and "=" in the value and empty values', () => {
    expect(parseAppEnv(['web:PORT=8080', 'web:URL=http://x:1/?a=b', 'api:EMPTY=', 'web:PORT=8081'])).toEqual({
      web: { env: { PORT: '8081', URL: 'http://x:1/?a=b' } },
      api: { env: { EMPTY: '' } },
    });
  });

  it('refuses malformed entries with the entry named', () => {
    for (const bad of ['PORT=8080', 'web:PORT', ':PORT=1', 'Web:PORT=1', 'web:1PORT=1', 'web:=1']) {
      expect(() => parseAppEnv([bad])).toThrow(ConfigError);
      expect(() => parseAppEnv([bad])).toThrow(bad);
    }
  });
});

describe('parseByteSize', () => {
  it('reads plain bytes and binary and decimal units', () => {
    expect(parseByteSize(1024)).toBe(1024);
    expect(parseByteSize('1024')).toBe(1024);
    expect(parseByteSize('512MiB')).toBe(512 * 1024 ** 2);
    expect(parseByteSize('2GB')).toBe(2e9);
    expect(parseByteSize('1g')).toBe(1024 ** 3);
    expect(() => parseByteSize('lots')).toThrow(ConfigError);
    expect(() => parseByteSize(0)).toThrow(ConfigError);
  });
});
