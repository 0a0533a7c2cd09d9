import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, tempDir } from './agent-process.js';
import { waitUntil } from './controller-process.js';
import { NATS_SERVER_BIN } from './nats-server.js';
import { account, readUnit, REPO_ROOT, stopChild, type Account } from './package-install.js';

// deploy/nats/nats-server.conf under Debian's nats-server.service, which runs the server as the
// `nats` user (home /nonexistent): started the way that unit starts it, as that user, with the
// shipped config (only its ports moved to free loopback ones) and the shipped drop-in's
// StateDirectory= made as systemd makes it. Running as another user needs root.

const CONF = join(REPO_ROOT, 'deploy', 'nats', 'nats-server.conf');
const DROP_IN = join(REPO_ROOT, 'deploy', 'nats', 'nats-server.service.d', 'flotilla.conf');

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Starts nats-server as `user` the way Debian's unit does: `nats-server -c CONF`. */
function startAs(user: Account, conf: string): ChildProcess & { output: () => string } {
  const child = spawn('runuser', ['-u', user.name, '--', NATS_SERVER_BIN, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const keep = (b: Buffer) => {
    text = (text + b.toString()).slice(-16 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return Object.assign(child, { output: () => text });
}

if (process.getuid?.() === 0) {
  describe("the shipped nats-server config under Debian's nats-server unit", () => {
    let dir: string;
    let conf: string;
    let port: number;
    let nats: Account | undefined;
    let stateDir: string;
    let madeStateDir = false;
    let server: (ChildProcess & { output: () => string }) | undefined;

    beforeAll(async () => {
      // Debian's nats-server package makes the user (scripts/ensure-deps.sh installs it).
      nats = await account('nats');
      if (!nats) throw new Error("no nats user: install Debian's nats-server package");
      dir = await tempDir('nats-debian');
      await chmod(dir, 0o755);
      port = await freePort();
      const httpPort = await freePort();
      const text = (await readFile(CONF, 'utf8'))
        .replace(/^port: \d+$/m, `host: 127.0.0.1\nport: ${port}`)
        .replace(/^http: 127\.0\.0\.1:\d+$/m, `http: 127.0.0.1:${httpPort}`);
      conf = join(dir, 'nats-server.conf');
      await writeFile(conf, text, { mode: 0o644 });
      const unit = await readUnit(DROP_IN);
      stateDir = join('/var/lib', unit.stateDirectory ?? '');
    });

    afterAll(async () => {
      await stopChild(server);
      if (madeStateDir) await rm(stateDir, { recursive: true, force: true });
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('keeps the JetStream store under the directory the drop-in gives the nats user', async () => {
      expect(stateDir).toBe('/var/lib/nats');
      expect(await readFile(CONF, 'utf8')).toMatch(/store_dir: \/var\/lib\/nats\//);
      expect(nats?.home, 'the nats user has no home to store into').toBe('/nonexistent');
    });

    it('binds the monitoring endpoint (users, addresses, subscriptions) to loopback', async () => {
      const text = await readFile(CONF, 'utf8');
      expect(text).toMatch(/^http: 127\.0\.0\.1:\d+$/m);
      expect(text).not.toMatch(/^\s*(http_port|monitor_port|https?_port)\s*:/m);
    });

    it('starts as the nats user with the drop-in, and the controller user can use JetStream', async () => {
      if (!(await exists(stateDir))) {
        // What the unit would do without the drop-in: the store cannot be made.
        const bare = startAs(nats as Account, conf);
        const code = await new Promise<number | null>((resolve) => bare.once('exit', resolve));
        expect(code).not.toBe(0);
        expect(bare.output()).toMatch(/could not create storage directory|permission denied/);
        // What systemd does for StateDirectory=nats with StateDirectoryMode=0750.
        await mkdir(stateDir, { mode: 0o750 });
        madeStateDir = true;
        await chown(stateDir, nats?.uid as number, nats?.gid as number);
      }
      server = startAs(nats as Account, conf);
      const nc = await waitUntil(
        'the server to accept the controller user',
        async () => {
          if (server?.exitCode !== null) throw new Error(`nats-server exited:\n${server?.output()}`);
          return connect({ servers: `127.0.0.1:${port}`, user: 'controller', pass: 'change-me', timeout: 1000 });
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${server?.output() ?? ''}`);
      });
      try {
        const jsm = await jetstreamManager(nc);
        const info = await jsm.getAccountInfo();
        expect(info.limits).toBeDefined();
        await jsm.streams.add({ name: 'FLOTILLA_PROBE', subjects: ['flotilla.probe'], storage: StorageType.File });
        expect((await jsm.streams.info('FLOTILLA_PROBE')).config.name).toBe('FLOTILLA_PROBE');
        await jsm.streams.delete('FLOTILLA_PROBE');
      } finally {
        await nc.close();
      }
      expect(await exists(join(stateDir, 'jetstream'))).toBe(true);
    });
  });
}
