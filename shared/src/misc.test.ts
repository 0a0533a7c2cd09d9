import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { canonicalJson } from './canonical.js';
import { loadConfig } from './config.js';
import { formatDuration, parseDuration } from './duration.js';
import { ConfigError } from './errors.js';
import { expandEnv, parseManifest } from './manifest.js';
import { hostIdFromHostname, parseAppVersion } from './names.js';
import { matchesSelector, parseLabels, parseSelector } from './selector.js';

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
  });
  it('refuses values JSON cannot hold faithfully', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow();
    expect(() => canonicalJson({ a: () => 1 })).toThrow();
  });
});

describe('durations', () => {
  it('parses the usual forms', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration(42)).toBe(42);
  });
  it('names the bad input', () => {
    expect(() => parseDuration('5 minutes', 'bake')).toThrow(/bake: "5 minutes" is not a duration/);
    expect(() => parseDuration('-1s')).toThrow();
    expect(() => parseDuration(-5)).toThrow();
  });
  it('formats compactly', () => {
    expect(formatDuration(950)).toBe('950ms');
    expect(formatDuration(1500)).toBe('1.50s');
    expect(formatDuration(245_000)).toBe('4m05s');
    expect(formatDuration(7_800_000)).toBe('2h10m');
  });
});

describe('names and selectors', () => {
  it('parses APP@VERSION and refuses the rest', () => {
    expect(parseAppVersion('web@1.4.2')).toEqual({ app: 'web', version: '1.4.2' });
    expect(() => parseAppVersion('web')).toThrow(/APP@VERSION/);
    expect(() => parseAppVersion('web@')).toThrow(/APP@VERSION/);
    expect(() => parseAppVersion('web@../../etc')).toThrow(/version/);
  });
  it('makes host ids from hostnames', () => {
    expect(hostIdFromHostname('web-01.eu.example.com')).toBe('web-01-eu-example-com');
    expect(hostIdFromHostname('...')).toBe('host');
  });
  it('matches label selectors', () => {
    const labels = { env: 'prod', zone: 'a' };
    expect(matchesSelector(labels, parseSelector(''))).toBe(true);
    expect(matchesSelector(labels, parseSelector('env=prod,zone=a'))).toBe(true);
    expect(matchesSelector(labels, parseSelector('env=prod,zone!=a'))).toBe(false);
    expect(matchesSelector(labels, parseSelector('zone'))).toBe(true);
    expect(matchesSelector(labels, parseSelector('!canary'))).toBe(true);
    expect(matchesSelector(labels, parseSelector('canary'))).toBe(false);
    expect(() => parseSelector('env=pr od')).toThrow(/label value/);
    expect(() => parseSelector('=x')).toThrow();
  });
  it('parses labels', () => {
    expect(parseLabels(['env=prod', 'zone=a,rack=3'])).toEqual({ env: 'prod', zone: 'a', rack: '3' });
    expect(() => parseLabels(['env'])).toThrow(/not key=value/);
  });
});

describe('manifest', () => {
  const base = { start: { command: ['node', 'server.js'] } };
  it('fills defaults and converts durations', () => {
    const m = parseManifest(JSON.stringify({ ...base, health: { http: { url: 'http://127.0.0.1:${PORT}/healthz' } } }));
    expect(m.stop).toEqual({ signal: 'SIGTERM', timeout: 10_000 });
    expect(m.health?.interval).toBe(2000);
    expect(m.health?.failureThreshold).toBe(3);
    expect(m.start.cwd).toBe('.');
  });
  it('names every kind of fault', () => {
    expect(() => parseManifest('{')).toThrow(/not valid JSON/);
    expect(() => parseManifest('{}')).toThrow(/start/);
    expect(() => parseManifest(JSON.stringify({ start: { command: [] } }))).toThrow(/start.command/);
    expect(() => parseManifest(JSON.stringify({ ...base, stop: { signal: 'SIGFOO' } }))).toThrow(/stop.signal/);
    expect(() => parseManifest(JSON.stringify({ ...base, health: { interval: '1s' } }))).toThrow(/exactly one of http, tcp or command/);
    expect(() => parseManifest(JSON.stringify({ ...base, health: { tcp: { port: 1 }, interval: 'soon' } }))).toThrow(/health.interval/);
    expect(() => parseManifest(JSON.stringify({ ...base, bogus: 1 }))).toThrow(/bogus|Unrecognized/);
    expect(() => parseManifest(JSON.stringify({ start: { command: 'x', cwd: '../..' } }))).toThrow(/cwd/);
    expect(() => parseManifest(JSON.stringify({ ...base, app: 'api' }), { app: 'web' })).toThrow(/names app "api"/);
  });
  it('expands ${VAR} from the release environment', () => {
    expect(expandEnv('http://127.0.0.1:${PORT}/x${NOPE}', { PORT: '8081' })).toBe('http://127.0.0.1:8081/x${NOPE}');
  });
});

describe('config loading', () => {
  const schema = z
    .object({
      nats: z.object({ servers: z.array(z.string().url()).min(1) }).strict(),
      dataDir: z.string().default('/var/lib/x'),
      keep: z.number().int().min(1).default(5),
    })
    .strict();

  it('layers file < environment < flags, with defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(file, 'nats:\n  servers: ["nats://file:4222"]\nkeep: 3\n');
      const c = loadConfig({
        program: 'test',
        schema,
        file,
        env: { FLOTILLA_KEEP: { path: 'keep', kind: 'number' }, FLOTILLA_NATS_SERVERS: { path: 'nats.servers', kind: 'list' } },
        environment: { FLOTILLA_KEEP: '4' },
        overrides: { dataDir: '/tmp/d', nats: { servers: undefined } },
      });
      expect(c).toEqual({ nats: { servers: ['nats://file:4222'] }, dataDir: '/tmp/d', keep: 4 });
      expect(Object.isFrozen(c) && Object.isFrozen(c.nats)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the field, the file and the bad value', () => {
    expect(() => loadConfig({ program: 'test', schema, overrides: { nats: { servers: ['not a url'] } } })).toThrow(
      /test config is invalid: nats.servers.0/,
    );
    expect(() => loadConfig({ program: 'test', schema, file: '/nonexistent/c.yaml' })).toThrow(/cannot read config file/);
    expect(() =>
      loadConfig({ program: 'test', schema, env: { FLOTILLA_KEEP: { path: 'keep', kind: 'number' } }, environment: { FLOTILLA_KEEP: 'many' } }),
    ).toThrow(ConfigError);
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
    try {
      writeFileSync(join(dir, 'bad.yaml'), 'nats: [unclosed');
      expect(() => loadConfig({ program: 'test', schema, file: join(dir, 'bad.yaml') })).toThrow(/not valid YAML/);
      writeFileSync(join(dir, 'typo.yaml'), 'nats:\n  servers: ["nats://x:1"]\nkepe: 3\n');
      expect(() => loadConfig({ program: 'test', schema, file: join(dir, 'typo.yaml') })).toThrow(/kepe|Unrecognized/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
