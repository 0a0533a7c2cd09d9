import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BalancerError, createLogger } from '@flotilla/shared';
import type { RunCommandResult } from '../process/index.js';
import { NginxUpstreams, type CommandRunner } from './nginx.js';
import type { SlotWeight } from './slots.js';

const log = createLogger({ name: 'test', level: 'silent' });
const ok: RunCommandResult = { ok: true, code: 0, signal: null, timedOut: false, outputTail: '' };
const refused = (text: string): RunCommandResult => ({ ok: false, code: 1, signal: null, timedOut: false, outputTail: text });
const weights = (a: number): SlotWeight[] => [
  { slot: 'a', address: '127.0.0.1:8081', weight: a },
  { slot: 'b', address: '127.0.0.1:8082', weight: 100 - a },
];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-nginx-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function upstreams(answers: Record<string, RunCommandResult>, calls: string[] = []): NginxUpstreams {
  const run: CommandRunner = async (cmd) => {
    const name = Array.isArray(cmd) ? cmd.join(' ') : cmd;
    calls.push(name);
    return answers[name] ?? ok;
  };
  return new NginxUpstreams(
    { nginx: { includeDir: dir, testCommand: 'test', reloadCommand: 'reload', commandTimeoutMs: 1000 }, stickiness: 'none', keepalive: 0 },
    log,
    run,
  );
}

describe('NginxUpstreams', () => {
  it('writes the file, then tests, then reloads', async () => {
    const calls: string[] = [];
    const u = upstreams({}, calls);
    await u.apply('web', weights(90));
    expect(readFileSync(u.path('web'), 'utf8')).toContain('server 127.0.0.1:8082 weight=10;');
    expect(calls).toEqual(['test', 'reload']);
  });

  it('puts the previous file back and fails with nginx words when the test refuses', async () => {
    const good = upstreams({});
    await good.apply('web', weights(90));
    const before = readFileSync(good.path('web'), 'utf8');
    const calls: string[] = [];
    const bad = upstreams({ test: refused('nginx: [emerg] unknown directive "bogus" in /etc/nginx/x.conf:1\nnginx: configuration file test failed') }, calls);
    const err = await bad.apply('web', weights(50)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BalancerError);
    expect((err as Error).message).toMatch(/nginx refused the upstream for web \(test\): .*unknown directive "bogus"/);
    expect(readFileSync(good.path('web'), 'utf8')).toBe(before);
    expect(calls).toEqual(['test']);
  });

  it('removes a first file nginx would not reload', async () => {
    const u = upstreams({ reload: refused('nginx: [error] invalid PID number') });
    await expect(u.apply('web', weights(100))).rejects.toThrow(/\(reload\): nginx: \[error\] invalid PID/);
    expect(existsSync(u.path('web'))).toBe(false);
  });

  it("uses an app's own upstream file, name and commands from the host's config, and the shared ones for other apps", async () => {
    const calls: string[] = [];
    const own = join(dir, 'blue', 'web-blue.conf');
    const u = new NginxUpstreams(
      {
        nginx: { includeDir: dir, testCommand: 'test', reloadCommand: 'reload', commandTimeoutMs: 1000 },
        stickiness: 'none',
        keepalive: 0,
        apps: { web: { traffic: { nginx: { includeFile: own, upstream: 'web_blue', testCommand: ['t', 'blue'], reloadCommand: 'r blue' } } } },
      },
      log,
      async (cmd) => {
        calls.push(Array.isArray(cmd) ? cmd.join(' ') : cmd);
        return ok;
      },
    );
    await u.apply('web', weights(90));
    await u.apply('api', weights(100));
    expect(u.path('web')).toBe(own);
    expect(readFileSync(own, 'utf8')).toContain('upstream web_blue {');
    expect(readFileSync(join(dir, 'flotilla-api.conf'), 'utf8')).toContain('upstream flotilla_api {');
    expect(existsSync(join(dir, 'flotilla-web.conf'))).toBe(false);
    expect(calls).toEqual(['t blue', 'r blue', 'test', 'reload']);
  });

  it('never replaces a file it did not write', async () => {
    const calls: string[] = [];
    const u = upstreams({}, calls);
    writeFileSync(u.path('web'), 'upstream flotilla_web { server 10.0.0.1:80; }\n');
    await expect(u.apply('web', weights(100))).rejects.toThrow(/was not written by flotilla-agent/);
    expect(readFileSync(u.path('web'), 'utf8')).toBe('upstream flotilla_web { server 10.0.0.1:80; }\n');
    expect(calls).toEqual([]);
  });
});
