import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadlineFlag, waitUntil } from './deadline.js';
import { Fleet } from './fleet.js';
import { hostileTarballs } from './fixtures/tarballs.js';
import { writeKeyPair } from './keys.js';

// The foundation end to end: real nats-server, controller, three agents, the CLI as a process,
// real tarballs and real app processes answering on their own ports.

/** Where the hostile releases' absolute paths and links point: it must never come to exist. */
const OUTSIDE_DIR = join(tmpdir(), `flotilla-outside-${randomBytes(6).toString('hex')}`);
const HOSTILE = hostileTarballs({ outsideDir: OUTSIDE_DIR, bombSize: 3 * 1024 ** 3 });

interface StatusJson {
  hosts: Array<{
    host_id: string;
    state: string;
    apps: Array<{ app: string; active_version: string; install_version: string; process_state: string; health: string; install_phase: string; error: string }>;
  }>;
}

async function statusOf(fleet: Fleet): Promise<StatusJson> {
  const r = await fleet.cli(['status', 'demo', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatusJson;
}

describe('a signed release reaches every host', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: 3, heartbeatInterval: '500ms' });
    await fleet.waitForHostsUp();
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('pushes and deploys v1, and every host serves it healthy on its own port', async () => {
    const push = await fleet.cli(['artifact', 'push', await fleet.release('1.0.0'), '--app', 'demo', '--version', '1.0.0', '--key', fleet.releaseKey.keyPath]);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toMatch(/[0-9a-f]{64}/);

    const deploy = await fleet.cli(['deploy', 'demo@1.0.0', '--wait-timeout', deadlineFlag(60)]);
    expect(deploy.code, `${deploy.stdout}${deploy.stderr}\n${fleet.diagnostics()}`).toBe(0);

    for (let i = 0; i < 3; i++) expect((await fleet.answer(i))?.version).toBe('1.0.0');
    const status = await statusOf(fleet);
    for (const h of status.hosts) {
      const app = h.apps.find((a) => a.app === 'demo');
      expect(app, h.host_id).toMatchObject({ active_version: '1.0.0', process_state: 'running', health: 'healthy' });
    }
  });

  it('replaces v1 with v2 on every host, with new processes', async () => {
    const before = await Promise.all(fleet.agents.map((_, i) => fleet.answer(i)));
    await fleet.push('2.0.0');
    const deploy = await fleet.cli(['deploy', 'demo@2.0.0', '--wait-timeout', deadlineFlag(60)]);
    expect(deploy.code, `${deploy.stdout}${deploy.stderr}`).toBe(0);
    for (let i = 0; i < 3; i++) {
      const now = await fleet.answer(i);
      expect(now?.version).toBe('2.0.0');
      expect(now?.pid).not.toBe(before[i]?.pid);
    }
    const list = await fleet.cli(['artifact', 'list', '--app', 'demo']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('1.0.0');
    expect(list.stdout).toContain('2.0.0');
  });

  it('refuses a release signed by a key the controller does not trust, and nothing changes', async () => {
    const rogue = await writeKeyPair(fleet.dir, 'rogue');
    const file = await fleet.release('6.6.6');
    const push = await fleet.cli(['artifact', 'push', file, '--app', 'demo', '--version', '6.6.6', '--key', rogue.keyPath]);
    expect(push.code).toBe(1);
    expect(push.stderr).toMatch(/not trusted/);
    const list = await fleet.cli(['artifact', 'list', '--app', 'demo', '--json']);
    expect(list.stdout).not.toContain('6.6.6');
    const deploy = await fleet.cli(['deploy', 'demo@6.6.6', '--no-wait']);
    expect(deploy.code).toBe(1);
    expect(deploy.stderr).toMatch(/6\.6\.6/);
    for (let i = 0; i < 3; i++) expect((await fleet.answer(i))?.version).toBe('2.0.0');
  });

  it('refuses a pre-signed descriptor for different bytes before uploading anything', async () => {
    const file = await fleet.release('2.1.0');
    const sign = await fleet.cli(['artifact', 'sign', file, '--app', 'demo', '--version', '2.1.0', '--key', fleet.releaseKey.keyPath]);
    expect(sign.code, sign.stderr).toBe(0);
    const bytes = await readFile(file);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0xff;
    await writeFile(file, bytes);
    const push = await fleet.cli(['artifact', 'push', file, '--app', 'demo', '--version', '2.1.0', '--signature', `${file}.sig.json`]);
    expect(push.code).toBe(2);
    expect(push.stderr).toMatch(/SHA-256|sha256|size/i);
  });

  // One case per hostile release, each with its own deadline: together they are the longest
  // stretch of this file, and on a loaded machine no single deadline would fit them all.
  describe('every hostile release', () => {
    afterAll(async () => {
      await rm(OUTSIDE_DIR, { recursive: true, force: true });
    });

    it.each(HOSTILE.map((h) => [h.name, h] as const))('refuses %s on every host, and v2 keeps serving', async (_name, hostile) => {
      const version = `6.0.0-${hostile.name}`;
      const file = join(fleet.dir, `${hostile.name}.tar.gz`);
      await writeFile(file, hostile.build());
      const push = await fleet.cli(['artifact', 'push', file, '--app', 'demo', '--version', version, '--key', fleet.releaseKey.keyPath]);
      if (push.code !== 0) {
        // Refused at the door (no flotilla.json, or a gzip bomb): the message says why.
        expect(push.code, hostile.name).toBe(1);
        expect(push.stderr, hostile.name).toMatch(/flotilla\.json|manifest|decompression ratio/i);
        return;
      }
      // Signed, so the controller stores it: every agent must refuse to unpack it.
      const deploy = await fleet.cli(['deploy', `demo@${version}`, '--wait-timeout', deadlineFlag(30)]);
      expect(deploy.code, `${hostile.name}: ${deploy.stdout}${deploy.stderr}`).toBe(1);
      expect(`${deploy.stdout}${deploy.stderr}`, hostile.name).toMatch(/failed/i);
      for (let i = 0; i < 3; i++) expect((await fleet.answer(i))?.version, hostile.name).toBe('2.0.0');
    });

    it('let nothing escape, left none unpacked, and each host reports its refusal while on v2', async () => {
      await expect(readdir(OUTSIDE_DIR)).rejects.toThrow();
      for (const a of fleet.agents) {
        expect(await readdir(join(a.dataDir, 'apps', 'demo'))).not.toContain('escape');
        const releases = await readdir(join(a.dataDir, 'apps', 'demo', 'releases'));
        expect(releases.filter((r) => r.startsWith('6.0.0') || r.startsWith('.staging'))).toEqual([]);
      }
      const status = await statusOf(fleet);
      for (const h of status.hosts) {
        // Each host reports the refusal, with the reason, while still running v2.
        const app = h.apps.find((a) => a.app === 'demo');
        expect(app, h.host_id).toMatchObject({ active_version: '2.0.0', install_phase: 'failed', health: 'healthy' });
        expect(app?.install_version, h.host_id).toMatch(/^6\.0\.0-/);
        expect(app?.error, h.host_id).toMatch(/refused/);
      }
    });
  });

  it('an agent that starts after the deploy converges to the current version', async () => {
    const late = fleet.agents[2]!;
    await late.process?.stop();
    await fleet.push('2.2.0');
    const deploy = await fleet.cli(['deploy', 'demo@2.2.0', '--no-wait']);
    expect(deploy.code, deploy.stderr).toBe(0);
    await waitUntil('hosts 1 and 2 on 2.2.0', async () => (await fleet.answer(0))?.version === '2.2.0' && (await fleet.answer(1))?.version === '2.2.0', {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    // The stopped agent's app kept running the old version while the agent was away.
    expect((await fleet.answer(2))?.version).toBe('2.0.0');
    fleet.startAgent(2);
    await waitUntil('the late host to serve 2.2.0', async () => (await fleet.answer(2))?.version === '2.2.0', {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
  });

  it('marks a host that stops heartbeating down, and up again when it returns', async () => {
    const agent = fleet.agents[1]!;
    const hostState = async () => {
      const r = await fleet.cli(['hosts', '--json']);
      const parsed = JSON.parse(r.stdout) as { hosts?: Array<{ host_id: string; state: string }> } | Array<{ host_id: string; state: string }>;
      const list = Array.isArray(parsed) ? parsed : (parsed.hosts ?? []);
      return list.find((h) => h.host_id === agent.hostId)?.state;
    };
    process.kill(agent.process!.pid, 'SIGSTOP');
    try {
      await waitUntil('host-2 down', async () => (await hostState()) === 'down', { timeoutMs: 15_000, intervalMs: 200 });
    } finally {
      process.kill(agent.process!.pid, 'SIGCONT');
    }
    await waitUntil('host-2 up again', async () => (await hostState()) === 'up', { timeoutMs: 15_000, intervalMs: 200 });
    // Its app never stopped serving.
    expect((await fleet.answer(1))?.version).toBe('2.2.0');
  });
});
