import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, generateKeyPairPem } from '@flotilla/shared';
import { controllerConfigSchema, loadControllerConfig, parseListenAddress } from './config.js';
import { FlagsExitRequest, flagOverrides, parseControllerFlags } from './flags.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-controller-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keyPair(name: string) {
  const pair = generateKeyPairPem();
  writeFileSync(join(dir, `${name}.key`), pair.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.pub`), pair.publicKeyPem);
  return { key: join(dir, `${name}.key`), pub: join(dir, `${name}.pub`), keyId: pair.keyId };
}

const release = keyPair('release');
const release2 = keyPair('release2');
const controllerKey = keyPair('controller');
const essentials = { dataDir: join(dir, 'data'), trustedKeys: [release.pub], controllerKey: controllerKey.key };

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadControllerConfig', () => {
  it('fills every default and freezes the result', () => {
    const config = loadControllerConfig({ environment: {}, overrides: essentials });
    expect(config.nats).toEqual({
      servers: ['nats://127.0.0.1:4222'],
      subjectPrefix: 'flotilla',
      kvReplicas: 1,
      connectTimeoutMs: 10_000,
    });
    expect(config.grpc.listen).toEqual({ host: '127.0.0.1', port: 7400 });
    expect(config.http.listen).toEqual({ host: '0.0.0.0', port: 7401 });
    expect(config.hosts.downAfterMissed).toBe(3);
    expect(config.artifacts.downloadChunkBytes).toBe(256 * 1024);
    expect(config.artifacts).toMatchObject({ keepVersions: 10, gcIntervalMs: 3_600_000, minFreeSpace: { bytes: 512 * 1024 * 1024 } });
    expect(config.shutdownTimeoutMs).toBe(10_000);
    expect(config.log.level).toBe('info');
    expect(config.apiToken).toBeUndefined();
    expect(config.keys.controller.keyId).toBe(controllerKey.keyId);
    expect(config.keys.trusted.map((k) => k.keyId)).toEqual([release.keyId]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.nats)).toBe(true);
  });

  it('reads FLOTILLA_* environment variables', () => {
    const config = loadControllerConfig({
      environment: {
        FLOTILLA_NATS_SERVERS: 'nats://a:4222, nats://b:4222',
        FLOTILLA_NATS_USER: 'ctl',
        FLOTILLA_NATS_PASSWORD: 'pw',
        FLOTILLA_GRPC_LISTEN: '127.0.0.1:0',
        FLOTILLA_HTTP_LISTEN: '[::1]:9000',
        FLOTILLA_DATA_DIR: essentials.dataDir,
        FLOTILLA_TRUSTED_KEYS: `${release.pub},${release2.pub}`,
        FLOTILLA_CONTROLLER_KEY: controllerKey.key,
        FLOTILLA_API_TOKEN: 's3cret',
        FLOTILLA_LOG_LEVEL: 'debug',
      },
    });
    expect(config.nats.servers).toEqual(['nats://a:4222', 'nats://b:4222']);
    expect(config.nats.user).toBe('ctl');
    expect(config.nats.password).toBe('pw');
    expect(config.grpc.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.http.listen).toEqual({ host: '::1', port: 9000 });
    expect(config.keys.trusted).toHaveLength(2);
    expect(config.apiToken).toBe('s3cret');
    expect(config.log.level).toBe('debug');
  });

  it('reads the host-facing NATS user and NATS TLS files, and refuses a certificate without its key', () => {
    const config = loadControllerConfig({
      environment: {
        FLOTILLA_NATS_HOSTS_USER: 'controller-hosts',
        FLOTILLA_NATS_HOSTS_PASSWORD: 'hosts-pw',
        FLOTILLA_NATS_TLS_CA: '/etc/flotilla/tls/ca.crt',
        FLOTILLA_NATS_TLS_CERT: '/etc/flotilla/tls/controller.crt',
        FLOTILLA_NATS_TLS_KEY: '/etc/flotilla/tls/controller.key',
      },
      overrides: essentials,
    });
    expect(config.nats.hostFacing).toEqual({ user: 'controller-hosts', password: 'hosts-pw' });
    expect(config.nats.tls).toEqual({
      caFile: '/etc/flotilla/tls/ca.crt',
      certFile: '/etc/flotilla/tls/controller.crt',
      keyFile: '/etc/flotilla/tls/controller.key',
    });
    expect(loadControllerConfig({ environment: {}, overrides: essentials }).nats.tls).toBeUndefined();
    expect(
      configError(() => loadControllerConfig({ environment: {}, overrides: { ...essentials, nats: { tls: { certFile: '/c.crt' } } } })),
    ).toMatch(/nats\.tls.*certFile and keyFile go together/);
  });

  it('reads a YAML file, which env and flags override key by key', () => {
    const file = join(dir, 'controller.yaml');
    writeFileSync(
      file,
      [
        'nats:',
        '  servers: [nats://file:4222]',
        '  subjectPrefix: staging',
        '  kvReplicas: 3',
        'grpc: {listen: "127.0.0.2:7500"}',
        `dataDir: ${essentials.dataDir}`,
        `trustedKeys: [${release.pub}]`,
        `controllerKey: ${controllerKey.key}`,
        'hosts: {downAfterMissed: 5}',
        'shutdownTimeout: 30s',
        'log: {level: warn}',
      ].join('\n'),
    );
    const fromFile = loadControllerConfig({ file, environment: {} });
    expect(fromFile.nats.servers).toEqual(['nats://file:4222']);
    expect(fromFile.nats.subjectPrefix).toBe('staging');
    expect(fromFile.nats.kvReplicas).toBe(3);
    expect(fromFile.grpc.listen.port).toBe(7500);
    expect(fromFile.hosts.downAfterMissed).toBe(5);
    expect(fromFile.shutdownTimeoutMs).toBe(30_000);

    const flags = parseControllerFlags(['--grpc-listen', '127.0.0.1:7600', '--log-level', 'error']);
    const layered = loadControllerConfig({
      file,
      environment: { FLOTILLA_LOG_LEVEL: 'debug', FLOTILLA_GRPC_LISTEN: '127.0.0.1:7700' },
      overrides: flagOverrides(flags),
    });
    expect(layered.grpc.listen.port).toBe(7600);
    expect(layered.log.level).toBe('error');
    expect(layered.nats.subjectPrefix).toBe('staging');
  });

  it('names the field of every bad value', () => {
    const load = (overrides: Record<string, unknown>) => () =>
      loadControllerConfig({ environment: {}, overrides: { ...essentials, ...overrides } });
    expect(configError(load({ grpc: { listen: 'nowhere' } }))).toMatch(/grpc\.listen: "nowhere" is not HOST:PORT/);
    expect(configError(load({ http: { listen: '127.0.0.1:70000' } }))).toMatch(/http\.listen/);
    expect(configError(load({ hosts: { downAfterMissed: 0 } }))).toMatch(/hosts\.downAfterMissed/);
    expect(configError(load({ nats: { kvReplicas: 7 } }))).toMatch(/nats\.kvReplicas/);
    expect(configError(load({ nats: { subjectPrefix: 'a b' } }))).toMatch(/nats\.subjectPrefix/);
    expect(configError(load({ shutdownTimeout: 'soon' }))).toMatch(/shutdownTimeout.*not a duration/);
    expect(configError(load({ log: { level: 'loud' } }))).toMatch(/log\.level/);
    expect(configError(load({ natz: {} }))).toMatch(/natz/);
    expect(configError(load({ artifacts: { keepVersions: 0 } }))).toMatch(/artifacts\.keepVersions/);
    expect(configError(load({ artifacts: { gcInterval: '500ms' } }))).toMatch(/artifacts\.gcInterval.*0 \(off\) or at least 1s/);
    expect(configError(load({ artifacts: { minFreeSpace: '120%' } }))).toMatch(/artifacts\.minFreeSpace.*percentage/);
  });

  it('reads retention settings: gc off with 0, a free-space floor as a share', () => {
    const config = loadControllerConfig({
      environment: {},
      overrides: { ...essentials, artifacts: { keepVersions: 3, gcInterval: 0, minFreeSpace: '5%' } },
    });
    expect(config.artifacts).toMatchObject({ keepVersions: 3, gcIntervalMs: 0, minFreeSpace: { percent: 5 } });
  });

  it('requires the data dir, the controller key and at least one trusted key', () => {
    expect(configError(() => loadControllerConfig({ environment: {}, overrides: { ...essentials, dataDir: undefined } }))).toMatch(
      /dataDir: is required/,
    );
    expect(
      configError(() => loadControllerConfig({ environment: {}, overrides: { ...essentials, controllerKey: undefined } })),
    ).toMatch(/controllerKey: is required/);
    expect(configError(() => loadControllerConfig({ environment: {}, overrides: { ...essentials, trustedKeys: [] } }))).toMatch(
      /trustedKeys: name at least one trusted release public key/,
    );
  });

  it('checks that the key files exist and hold the right kind of key', () => {
    const load = (overrides: Record<string, unknown>) => () =>
      loadControllerConfig({ environment: {}, overrides: { ...essentials, ...overrides } });
    expect(configError(load({ controllerKey: join(dir, 'missing.key') }))).toMatch(/controllerKey: cannot read key file .*missing\.key/);
    expect(configError(load({ controllerKey: release.pub }))).toMatch(/controllerKey: .*not a PEM private key/);
    expect(configError(load({ trustedKeys: [release.pub, join(dir, 'missing.pub')] }))).toMatch(/trustedKeys: cannot read key file/);
    const garbage = join(dir, 'garbage.pub');
    writeFileSync(garbage, 'not a key\n');
    expect(configError(load({ trustedKeys: [garbage] }))).toMatch(/trustedKeys: .*garbage\.pub: not a PEM public key/);
  });

  it('merges the alert webhooks and alarms, from the file and FLOTILLA_ALERTS_*', () => {
    const file = join(dir, 'alarms.yaml');
    writeFileSync(
      file,
      [
        'alerts:',
        '  appLabel: service',
        'alarms:',
        '  defaults:',
        '    health: { failingShare: 30%, for: 5s }',
        '  apps:',
        '    web:',
        '      crashLoop: { restarts: 1 }',
        '      revertOutsideWatchWindow: true',
      ].join('\n'),
    );
    const config = loadControllerConfig({
      file,
      environment: { FLOTILLA_ALERTS_TOKEN: 'a-token-of-sixteen-or-more', FLOTILLA_ALERTS_MAX_BODY_BYTES: '65536', FLOTILLA_HTTP_LISTEN: '127.0.0.1:7401' },
      overrides: essentials,
    });
    expect(config.alerts).toEqual({ token: 'a-token-of-sixteen-or-more', appLabel: 'service', maxBodyBytes: 65536, sources: [] });
    expect(config.alarms.defaults.health).toEqual({ enabled: true, failingShare: 0.3, forMs: 5000 });
    expect(config.alarms.apps.web).toMatchObject({
      health: { failingShare: 0.3, forMs: 5000 },
      crashLoop: { enabled: true, restarts: 1, windowMs: 300_000 },
      revertOutsideWatchWindow: true,
    });
    const defaults = loadControllerConfig({ environment: {}, overrides: essentials });
    expect(defaults.alerts).toEqual({ appLabel: 'app', maxBodyBytes: 1024 * 1024, sources: [] });
    expect(defaults.alarms.defaults.revertOutsideWatchWindow).toBe(false);
    expect(configError(() => loadControllerConfig({ environment: { FLOTILLA_ALERTS_TOKEN: 'short' }, overrides: essentials }))).toMatch(
      /alerts\.token: must be at least 16 characters/,
    );
  });

  it('takes the example deploy/config/controller.yaml as it is', () => {
    const text = readFileSync(new URL('../../deploy/config/controller.yaml', import.meta.url), 'utf8');
    const parsed = controllerConfigSchema.safeParse(parseYaml(text));
    expect(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues)).toBe(true);
    expect(parsed.data?.alarms.apps.web).toMatchObject({ health: { forMs: 30_000 }, revertOutsideWatchWindow: true });
    // Shipped authenticated: TLS on, named operators, alert sources with their own tokens.
    expect(parsed.data?.tls?.ca).toMatch(/ca\.pem$/);
    expect(parsed.data?.operators.map((o) => o.name)).toEqual(['alice', 'ci']);
    expect(parsed.data?.alerts.sources.map((a) => a.name)).toEqual(['alertmanager']);
  });

  it('refuses the controller key as a trusted release key', () => {
    expect(
      configError(() =>
        loadControllerConfig({ environment: {}, overrides: { ...essentials, trustedKeys: [release.pub, controllerKey.pub] } }),
      ),
    ).toMatch(/trustedKeys: .*controller\.pub is the public half of the controller key/);
  });
});

describe('parseControllerFlags', () => {
  it('collects repeated and comma-separated flags', () => {
    const flags = parseControllerFlags([
      '--nats',
      'nats://a:1,nats://b:2',
      '--trusted-key',
      'a.pub',
      '--trusted-key',
      'b.pub',
      '--controller-key',
      'c.key',
      '--ready-file',
      '/tmp/ready.json',
      '--no-log-pretty',
    ]);
    expect(flags.trustedKey).toEqual(['a.pub', 'b.pub']);
    expect(flags.readyFile).toBe('/tmp/ready.json');
    expect(flags.logPretty).toBe(false);
    expect(flagOverrides(flags)).toMatchObject({
      nats: { servers: 'nats://a:1,nats://b:2' },
      trustedKeys: ['a.pub', 'b.pub'],
      controllerKey: 'c.key',
      log: { pretty: false },
    });
  });

  it('leaves log.pretty unset when neither --log-pretty nor --no-log-pretty is given', () => {
    expect(parseControllerFlags([]).logPretty).toBeUndefined();
  });

  it('turns usage mistakes into a ConfigError and --help into an exit request', () => {
    expect(configError(() => parseControllerFlags(['--bogus']))).toMatch(/unknown option '--bogus'/);
    expect(configError(() => parseControllerFlags(['--data-dir']))).toMatch(/--data-dir/);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(() => parseControllerFlags(['--version'])).toThrow(FlagsExitRequest);
    } finally {
      stdout.mockRestore();
    }
  });
});

describe('parseListenAddress', () => {
  it('reads host:port, [v6]:port and :port', () => {
    expect(parseListenAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::]:7400')).toEqual({ host: '::', port: 7400 });
    expect(parseListenAddress(':7401')).toEqual({ host: '0.0.0.0', port: 7401 });
    expect(parseListenAddress('controller.internal:7400')).toEqual({ host: 'controller.internal', port: 7400 });
  });

  it('refuses anything else', () => {
    for (const bad of ['7400', 'host:', 'host:port', '1.2.3.4:65536', '']) {
      expect(() => parseListenAddress(bad), bad).toThrow(ConfigError);
    }
  });
});
