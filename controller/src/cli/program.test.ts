import { describe, expect, it } from 'vitest';
import { runCli } from './program.js';
import { captureContext, fakeClient } from './testing.js';

describe('flotilla argument parsing', () => {
  it.each([
    [[], /Usage: flotilla/],
    [['fly'], /unknown command 'fly'/],
    [['hosts', '--colour'], /unknown option '--colour'/],
    [['artifact', 'push', 'web.tar.gz', '--app', 'web'], /required option '--version <version>' not specified/],
    [['artifact', 'sign', 'web.tar.gz', '--app', 'web', '--version', '1.0'], /required option '--key <file>'/],
    [['deploy'], /missing required argument 'app@version'/],
    [['keys'], /Usage: flotilla keys/],
    [['status', 'web', 'api'], /too many arguments/],
    [
      ['artifact', 'push', 'f.tgz', '--app', 'web', '--version', '1', '--key', 'k', '--signature', 's'],
      /option '--key <file>' cannot be used with option '--signature <file>'/,
    ],
  ])('%j is a usage error: exit 2 and commander says why', async (argv, message) => {
    const c = captureContext();
    expect(await runCli(argv, c.ctx)).toBe(2);
    expect(c.err()).toMatch(message);
    expect(c.connections).toEqual([]);
  });

  it.each([
    [['deploy', 'web'], /"web" is not APP@VERSION/],
    [['deploy', 'Web@1.0'], /app name "Web" is invalid/],
    [['deploy', 'web@../1'], /version "..\/1" is invalid/],
    [['deploy', 'web@1.0', '--wait-timeout', 'soon'], /--wait-timeout: "soon" is not a duration/],
    [['deploy', 'web@1.0', '--selector', 'env=prod,=x'], /selector "env=prod,=x"/],
    [['hosts', '--selector', 'zone=a b'], /"a b" is not a valid label value/],
    [['hosts', '--timeout', '-1s'], /--timeout: "-1s" is not a duration/],
    [['hosts', '--controller', 'no port here'], /controller address "no port here" is not HOST:PORT/],
    [['artifact', 'list', '--app', 'Not_Valid'], /app name "Not_Valid" is invalid/],
    [['status', '../etc'], /app name "..\/etc" is invalid/],
    [['artifact', 'push', 'web.tar.gz', '--app', 'web', '--version', '1.0'], /exactly one of --key .* or --signature/],
  ])('%j is bad input caught before calling: exit 2 with the reason', async (argv, message) => {
    const c = captureContext();
    expect(await runCli(argv, c.ctx)).toBe(2);
    expect(c.err()).toMatch(/^error: /);
    expect(c.err()).toMatch(message);
    expect(c.out()).toBe('');
    expect(c.connections).toEqual([]);
  });

  it('--version alone prints the version; after a verb it is that verb\'s option', async () => {
    const c = captureContext();
    expect(await runCli(['--version'], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/^\d+\.\d+\.\d+\n$/);
    const d = captureContext();
    expect(await runCli(['artifact', 'sign', 'missing.tar.gz', '--app', 'web', '--version', '1.0', '--key', 'k'], d.ctx)).toBe(2);
    // The verb ran with its own --version (it got as far as reading the key).
    expect(d.err()).toMatch(/cannot read key file k/);
  });

  it('--help prints usage with the exit codes and exits 0', async () => {
    const c = captureContext();
    expect(await runCli(['--help'], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/Usage: flotilla/);
    expect(c.out()).toMatch(/3 {2}the controller could not be reached/);
  });

  it('takes global options before or after the verb, and from the environment', async () => {
    const listHosts = () => Promise.resolve({ hosts: [] });
    const c = captureContext({
      connect: () => fakeClient({ listHosts }),
      env: { FLOTILLA_CONTROLLER: 'ctl.example:7400', FLOTILLA_API_TOKEN: 'env-token' },
    });
    expect(await runCli(['hosts', '--json', '--timeout', '2s'], c.ctx)).toBe(0);
    expect(await runCli(['--controller', '10.0.0.5:9000', '--token', 'flag-token', 'hosts'], c.ctx)).toBe(0);
    expect(c.connections).toEqual([
      { address: 'ctl.example:7400', token: 'env-token', timeoutMs: 2000 },
      { address: '10.0.0.5:9000', token: 'flag-token', timeoutMs: 30_000 },
    ]);
    expect(c.out()).toBe('{\n  "hosts": []\n}\nno hosts have announced themselves yet\n');
  });

  it('defaults to 127.0.0.1:7400 and no token', async () => {
    const c = captureContext({ connect: () => fakeClient({ getStatus: () => Promise.resolve({ hosts: [], apps: [] }) }) });
    expect(await runCli(['status'], c.ctx)).toBe(0);
    expect(c.connections).toEqual([{ address: '127.0.0.1:7400', token: undefined, timeoutMs: 30_000 }]);
    expect(c.out()).toBe('no hosts have announced themselves yet\n');
  });
});
