// Apps cannot reach the agent's secrets: a real agent (as root) runs a spying app as `nobody`
// and a second app as `daemon`; the spy reports what it could read and write from inside.
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentFixture } from './agent-fixture.js';
import { signRelease, type DemoRelease } from './agent-process.js';
import { waitUntil } from './deadline.js';
import { releaseTarballBytes, sha256Hex } from './release-tarball.js';

const isRoot = process.getuid?.() === 0;
const HOST = 'app-isolation-1';
const API_TOKEN = 'agent-api-token-do-not-leak';

// Each probe prints `SPY <name>=allowed|denied`; the positive controls show the probes work.
const SPY_SCRIPT = `#!/bin/sh
probe() { if sh -c "$2" >/dev/null 2>&1; then echo "SPY $1=allowed"; else echo "SPY $1=denied"; fi; }
echo "SPY uid=$(id -u)"
echo "SPY env-token=\${FLOTILLA_API_TOKEN:-absent}"
echo "SPY home=$HOME"
probe read-own-release "cat ./flotilla.json"
probe read-agent-config "cat '$AGENT_CONFIG'"
probe read-release-key "cat '$RELEASE_KEY'"
probe read-agent-environ "cat /proc/$PPID/environ"
probe read-state "cat '$DATA_DIR/state.json'"
probe write-state "echo x >> '$DATA_DIR/state.json'"
probe create-in-data-dir "touch '$DATA_DIR/planted'"
probe list-data-dir "ls '$DATA_DIR'"
probe read-cache "ls '$DATA_DIR/cache'"
probe read-other-release "cat '$DATA_DIR/apps/other/releases/1.0.0/secret.txt'"
probe write-own-release "touch ./planted"
probe signal-agent "kill -0 $PPID"
echo "SPY done"
exec sleep 600
`;

let fx: AgentFixture;
let configPath: string;

async function release(app: string, files: Record<string, string>, manifest: Record<string, unknown>): Promise<DemoRelease> {
  const bytes = await releaseTarballBytes({ 'flotilla.json': JSON.stringify({ schema: 1, app, version: '1.0.0', ...manifest }), ...files });
  return { app, version: '1.0.0', path: '', bytes, sha256: sha256Hex(bytes), size: bytes.length };
}

describe.skipIf(!isRoot)('apps run apart from the agent (needs root: only root can switch users)', () => {
  beforeAll(async () => {
    fx = await AgentFixture.start('app-isolation', HOST);
    // The temporary directory is private to root; the apps pass through it as a host's /var/lib would let them.
    await chmod(fx.dir, 0o711);
    configPath = join(fx.dir, 'agent.yaml');
    await writeFile(configPath, `controller:\n  token: ${API_TOKEN}\napps:\n  spy:\n    runAs: nobody\n  other:\n    runAs: daemon\n`, {
      mode: 0o600,
    });
    const spy = await release(
      'spy',
      { 'spy.sh': SPY_SCRIPT },
      {
        start: {
          command: ['/bin/sh', 'spy.sh'],
          env: { AGENT_CONFIG: configPath, RELEASE_KEY: fx.releaseKey.keyPath, DATA_DIR: fx.dataDir },
        },
        stop: { signal: 'SIGKILL', timeout: '1s' },
      },
    );
    const other = await release('other', { 'secret.txt': 'other app secret\n' }, { start: { command: ['/bin/sh', '-c', 'exec sleep 600'] } });
    for (const r of [spy, other]) fx.artifacts.serve(r.sha256, r.bytes);
    fx.spawnAgent({
      extraArgs: ['--config', configPath],
      env: { FLOTILLA_API_TOKEN: API_TOKEN, FLOTILLA_RUN_APPS_AS_AGENT: 'false' },
    });
    await fx.waitForHeartbeat(() => true);
    await fx.ctl.assign(HOST, {
      spy: { version: '1.0.0', release: signRelease(spy, fx.releaseKey.signer) },
      other: { version: '1.0.0', release: signRelease(other, fx.releaseKey.signer) },
    });
  });

  afterAll(async () => {
    await fx?.stop();
  });

  it('the app cannot read the agent config, keys, environment or state, nor write state or other releases', async () => {
    const logFile = join(fx.dataDir, 'apps', 'spy', 'logs', 'spy.log');
    const log = await waitUntil(
      'the spy to finish its probes',
      async () => {
        const text = await readFile(logFile, 'utf8').catch(() => '');
        return text.includes('SPY done') ? text : undefined;
      },
      { timeoutMs: 45_000 },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\nagent output tail:\n${fx.agent?.tail(40) ?? ''}`);
    });
    const seen = Object.fromEntries([...log.matchAll(/^SPY ([a-z-]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
    expect(seen).toEqual({
      uid: '65534',
      'env-token': 'absent',
      home: '/nonexistent',
      'read-own-release': 'allowed',
      'read-agent-config': 'denied',
      'read-release-key': 'denied',
      'read-agent-environ': 'denied',
      'read-state': 'denied',
      'write-state': 'denied',
      'create-in-data-dir': 'denied',
      'list-data-dir': 'denied',
      'read-cache': 'denied',
      'read-other-release': 'denied',
      'write-own-release': 'denied',
      'signal-agent': 'denied',
    });
    // And the agent's own record of the host is whole: state.json parses and names both apps.
    const state = JSON.parse(await readFile(join(fx.dataDir, 'state.json'), 'utf8')) as { apps: Record<string, unknown> };
    expect(Object.keys(state.apps).sort()).toEqual(['other', 'spy']);
    expect((await stat(join(fx.dataDir, 'state.json'))).mode & 0o777).toBe(0o600);
  });

  it("the other app runs as its own user, and its releases belong to that user's group only", async () => {
    const appDir = join(fx.dataDir, 'apps', 'other');
    const info = await stat(appDir);
    expect(info.mode & 0o777).toBe(0o750);
    expect(info.gid).toBe(1); // daemon's group
    const hb = await fx.waitForHeartbeat((h) => h.apps.some((a) => a.app === 'other' && a.pid !== null));
    const pid = hb.apps.find((a) => a.app === 'other')?.pid as number;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('1');
    // No capability survives the switch from root: the app cannot become root or anyone else again.
    expect(/^CapEff:\s+(\S+)/m.exec(status)?.[1]).toBe('0000000000000000');
    expect(/^Groups:[ \t]*(.*)$/m.exec(status)?.[1]?.trim()).toBe('');
  });
});
