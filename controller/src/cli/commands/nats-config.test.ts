import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../program.js';
import { captureContext } from '../testing.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-nats-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;
const envFile = (path: string) =>
  Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;

describe('flotilla nats config', () => {
  it('writes the server users and one credential file per host, every secret file mode 0600', async () => {
    writeFileSync(join(dir, 'hosts.txt'), '# rack 2\nweb-03\n\ndb-01  # primary\n');
    const c = captureContext();
    const code = await runCli(['nats', 'config', '--hosts', 'web-01,web-02', '--hosts-file', join(dir, 'hosts.txt'), '--out-dir', dir], c.ctx);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const server = readFileSync(join(dir, 'nats-auth.conf'), 'utf8');
    expect(mode(join(dir, 'nats-auth.conf'))).toBe(0o600);
    const passwords = new Set<string>();
    for (const h of ['web-01', 'web-02', 'web-03', 'db-01']) {
      const path = join(dir, 'hosts', `${h}.env`);
      expect(mode(path)).toBe(0o600);
      const vars = envFile(path);
      expect(vars).toMatchObject({ FLOTILLA_HOST_ID: h, FLOTILLA_NATS_USER: h });
      expect(vars['FLOTILLA_NATS_PASSWORD']).toMatch(/^[A-Za-z0-9_-]{32}$/);
      passwords.add(vars['FLOTILLA_NATS_PASSWORD'] as string);
      expect(server).toContain(`password: "${vars['FLOTILLA_NATS_PASSWORD']}"`);
      expect(server).toContain(
        `publish: { allow: ["flotilla.v1.announce.${h}", "flotilla.v1.heartbeat.${h}", "flotilla.v1.sync.${h}"] }`,
      );
      expect(server).toContain(`subscribe: { allow: ["flotilla.v1.assign.${h}", "_INBOX_${h}.>"] }`);
    }
    const controller = envFile(join(dir, 'controller.env'));
    expect(mode(join(dir, 'controller.env'))).toBe(0o600);
    expect(controller).toMatchObject({ FLOTILLA_NATS_USER: 'controller', FLOTILLA_NATS_HOSTS_USER: 'controller-hosts' });
    passwords.add(controller['FLOTILLA_NATS_PASSWORD'] as string).add(controller['FLOTILLA_NATS_HOSTS_PASSWORD'] as string);
    expect(passwords.size).toBe(6);
    // The host-facing user answers each host's inbox and cannot reach JetStream.
    expect(server).toContain(
      'publish: { allow: ["flotilla.v1.assign.*", "_INBOX_web-01.>", "_INBOX_web-02.>", "_INBOX_web-03.>", "_INBOX_db-01.>"], deny: ["$JS.>", "$KV.>", "$O.>", "$SYS.>"] }',
    );
    expect(c.out()).toContain(join(dir, 'nats-auth.conf'));
    expect(c.out()).not.toContain(controller['FLOTILLA_NATS_PASSWORD']);
  });

  it('refuses bad or repeated host ids and an empty list with exit 2, writing nothing', async () => {
    for (const [args, message] of [
      [['--hosts', 'web-01,web 02'], '"web 02" is not a valid host id'],
      [['--hosts', 'web-01', '--hosts', 'web-01'], 'host "web-01" is listed twice'],
      [[], 'name at least one host'],
      [['--hosts', 'controller-hosts'], 'is the name of a controller NATS user'],
    ] as const) {
      const c = captureContext();
      expect(await runCli(['nats', 'config', ...args, '--out-dir', dir], c.ctx)).toBe(2);
      expect(c.err()).toContain(message);
      expect(() => statSync(join(dir, 'nats-auth.conf'))).toThrow();
    }
  });

  it('refuses to replace existing credentials unless --force', async () => {
    expect(await runCli(['nats', 'config', '--hosts', 'web-01', '--out-dir', dir], captureContext().ctx)).toBe(0);
    const first = readFileSync(join(dir, 'hosts', 'web-01.env'), 'utf8');
    const again = captureContext();
    expect(await runCli(['nats', 'config', '--hosts', 'web-01', '--out-dir', dir], again.ctx)).toBe(2);
    expect(again.err()).toContain('already exists; refusing to replace credentials (use --force)');
    expect(readFileSync(join(dir, 'hosts', 'web-01.env'), 'utf8')).toBe(first);
    expect(await runCli(['nats', 'config', '--hosts', 'web-01', '--out-dir', dir, '--force'], captureContext().ctx)).toBe(0);
    expect(readFileSync(join(dir, 'hosts', 'web-01.env'), 'utf8')).not.toBe(first);
  });
});
