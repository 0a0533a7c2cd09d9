import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAgentConfig } from '@flotilla/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeKeyPair } from './agent-process.js';
import { account, buildPackages, command, flotillaOnSystem, lockSystemInstall, REPO_ROOT } from './package-install.js';

// deploy/ansible/agents.yml against this machine as its only inventory host (a local connection):
// --check changes nothing; a real run installs the agent package and writes the host's config from
// inventory variables; a second run changes nothing. The real runs happen only as root on a
// machine without Flotilla, and the package is purged afterwards.

const PLAYBOOK = join(REPO_ROOT, 'deploy', 'ansible', 'agents.yml');
const onSystem = process.getuid?.() === 0 && !flotillaOnSystem();

interface Recap {
  ok: number;
  changed: number;
  failed: number;
}

function recapOf(output: string): Recap {
  const m = /localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/.exec(output);
  if (!m) throw new Error(`no play recap in:\n${output}`);
  return { ok: Number(m[1]), changed: Number(m[2]), failed: Number(m[3]) };
}

describe('the Ansible playbook for agents', () => {
  let dir: string;
  let args: string[];
  let unlock: (() => Promise<void>) | undefined;
  let ranForReal = false;

  const play = (...extra: string[]) =>
    command('ansible-playbook', [...args, ...extra], {
      timeoutMs: 240_000,
      env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_HOST_KEY_CHECKING: 'false' },
    });

  beforeAll(async () => {
    dir = await tempDir('ansible');
    const { agent } = await buildPackages(join(dir, 'out'));
    const release = await writeKeyPair(dir, 'release');
    const controller = await writeKeyPair(dir, 'controller');
    const inventory = join(dir, 'inventory.ini');
    await writeFile(
      inventory,
      [
        '[flotilla_agents]',
        `localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3 flotilla_host_id=ansible-host flotilla_labels='{"env": "test", "zone": "a"}'`,
        '',
        '[flotilla_agents:vars]',
        'flotilla_nats_servers=["nats://127.0.0.1:4222"]',
        'flotilla_nats_password=host-secret-1',
        '',
      ].join('\n'),
    );
    args = [
      '-i', inventory, PLAYBOOK,
      '-e', `flotilla_agent_deb=${agent}`,
      '-e', `flotilla_release_pub=${release.pubPath}`,
      '-e', `flotilla_controller_pub=${controller.pubPath}`,
      // No systemd as PID 1 in a test machine: the package is installed and configured, not started.
      '-e', 'flotilla_manage_service=false',
    ];
    if (onSystem) unlock = await lockSystemInstall();
  }, 400_000);

  afterAll(async () => {
    if (ranForReal) {
      await command('dpkg', ['--purge', 'flotilla-agent']);
      await rm('/var/cache/flotilla-agent.deb', { force: true });
    }
    await unlock?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('--check reports the changes it would make and makes none', async () => {
    const r = await play('--check', '--diff');
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    const recap = recapOf(r.stdout);
    expect(recap.failed).toBe(0);
    if (onSystem) {
      expect(recap.changed, r.stdout).toBeGreaterThan(0);
      expect(r.stdout).toContain('+hostId: "ansible-host"');
      await expect(stat('/etc/flotilla/agent.yaml')).rejects.toThrow();
      expect((await command('dpkg-query', ['-W', '-f=${db:Status-Status}', 'flotilla-agent'])).stdout).not.toBe('installed');
    }
  });

  if (onSystem) {
    it('installs the agent with the host id, labels and NATS credentials from the inventory', async () => {
      ranForReal = true;
      const r = await play();
      expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
      expect(recapOf(r.stdout).failed).toBe(0);
      expect((await command('dpkg-query', ['-W', '-f=${db:Status-Status}', 'flotilla-agent'])).stdout).toBe('installed');
      const config = await readFile('/etc/flotilla/agent.yaml', 'utf8');
      expect(config).toContain('hostId: "ansible-host"');
      expect(config).toMatch(/labels: \{"env": "test", "zone": "a"\}/);
      expect(config).toContain('user: "ansible-host"');
      expect(config).toContain('password: "host-secret-1"');
      const user = await account('flotilla');
      const s = await stat('/etc/flotilla/agent.yaml');
      expect((s.mode & 0o777).toString(8)).toBe('640');
      expect(s.gid).toBe(user?.gid);
      await stat('/etc/flotilla/keys/release.pub');
      await stat('/etc/flotilla/keys/controller.pub');
      // The password is never shown in the play's output.
      expect(r.stdout).not.toContain('host-secret-1');
      // The config it wrote is one the agent accepts, keys and all.
      const loaded = loadAgentConfig(['--config', '/etc/flotilla/agent.yaml'], {});
      expect(loaded).toMatchObject({ hostId: 'ansible-host', labels: { env: 'test', zone: 'a' }, nats: { user: 'ansible-host' } });
      expect(loaded.releaseKeys).toHaveLength(1);
    });

    it('a second run changes nothing', async () => {
      const r = await play();
      expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
      expect(recapOf(r.stdout)).toMatchObject({ changed: 0, failed: 0 });
    });
  }
});
