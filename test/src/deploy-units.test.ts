import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { command, readUnit, REPO_ROOT } from './package-install.js';

// The shipped systemd units, checked by systemd's own tools. Both work on unit files without a
// running systemd (`verify`, and `security --offline=true`), so these run on any Debian machine.

const UNITS = join(REPO_ROOT, 'deploy', 'systemd');
const unit = (name: string) => join(UNITS, `${name}.service`);

/** The overall exposure `systemd-analyze security` gives a unit file (0 best, 10 worst). */
async function exposure(path: string): Promise<number> {
  const r = await command('systemd-analyze', ['security', '--offline=true', '--no-pager', path]);
  const m = /Overall exposure level for [^:]+: (\d+(?:\.\d+)?)/.exec(r.stdout);
  if (!m) throw new Error(`systemd-analyze security gave no exposure level:\n${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

describe('the systemd units', () => {
  it('pass systemd-analyze verify without a word', async () => {
    const r = await command('systemd-analyze', ['verify', unit('flotilla-controller'), unit('flotilla-agent')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('the controller is rated OK (at most 4.5) by systemd-analyze security', async () => {
    expect(await exposure(unit('flotilla-controller'))).toBeLessThanOrEqual(4.5);
  });

  it('the agent is rated OK too, though its apps live in its sandbox', async () => {
    // docs/operations.md names each setting left open for the apps' sake.
    expect(await exposure(unit('flotilla-agent'))).toBeLessThanOrEqual(4.5);
  });

  it('the agent stops only its own process, so apps outlive its restarts and upgrades', async () => {
    const agent = await readUnit(unit('flotilla-agent'));
    expect(agent.killMode).toBe('process');
    expect(agent.argv.join(' ')).toBe('/usr/bin/node /usr/share/flotilla-agent/lib/flotilla-agent.js --config /etc/flotilla/agent.yaml');
  });

  it('the agent is root with only the capabilities that running apps as their own users takes', async () => {
    const agent = await readUnit(unit('flotilla-agent'));
    expect(agent.user).toBe('root');
    const text = await readFile(unit('flotilla-agent'), 'utf8');
    const set = /^CapabilityBoundingSet=(.*)$/m.exec(text)?.[1]?.split(/\s+/).sort();
    expect(set).toEqual(['CAP_CHOWN', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SYS_PTRACE']);
    // Ambient capabilities would survive the switch to an app's user; root's do not.
    expect(text).toMatch(/^AmbientCapabilities=$/m);
    expect(text).toMatch(/^NoNewPrivileges=true$/m);
    expect(text).toMatch(/^StateDirectoryMode=0711$/m);
  });
});
