import type { ChildProcess } from 'node:child_process';
import { chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killAppsOf, pidAlive, tempDir, writeKeyPair, type KeyFiles } from './agent-process.js';
import { waitUntil } from './controller-process.js';
import { buildDemoAppRelease } from './fleet.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { account, buildPackages, command, flotillaOnSystem, lockSystemInstall, processUid, readUnit, startAsUnit, stopChild, type Account, type UnitExec } from './package-install.js';

// `npm run package` as a user meets it: the two .deb files hold what they say, lintian finds no
// error, and the installed programs, started exactly as their units start them, take a release
// from push to a running app. As root on a machine where Flotilla is not installed, the packages
// are installed for real (dpkg -i, then dpkg --purge, which must leave nothing behind); otherwise
// they are unpacked into a throwaway root and run as the current user.

const PACKAGES = ['flotilla-agent', 'flotilla-controller'] as const;
/** A version above the tree's, to upgrade the installed agent to. */
const NEWER = '99.0.0';

/** Installing onto this machine is only done where it can be fully undone: root, and nothing of Flotilla's there before. */
const onSystem = process.getuid?.() === 0 && !flotillaOnSystem();

interface Layout {
  /** '' when installed on the system, else the throwaway root. */
  readonly prefix: string;
  readonly etc: string;
  readonly agentData: string;
  readonly controllerData: string;
}

function layout(prefix: string): Layout {
  return {
    prefix,
    etc: `${prefix}/etc/flotilla`,
    agentData: `${prefix}/var/lib/flotilla`,
    controllerData: `${prefix}/var/lib/flotilla-controller`,
  };
}

describe('the Debian packages', () => {
  let work: string;
  let debs: { agent: string; controller: string };

  beforeAll(async () => {
    work = await tempDir('package');
    debs = await buildPackages(join(work, 'out'));
  }, 240_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('hold one bundled file per program, the proto beside it, the unit, and the config as a conffile', async () => {
    const agent = await command('dpkg-deb', ['-c', debs.agent]);
    expect(agent.code, agent.stderr).toBe(0);
    for (const path of [
      './usr/share/flotilla-agent/lib/flotilla-agent.js',
      './usr/share/flotilla-agent/lib/main.js',
      './usr/share/flotilla-agent/flotilla.proto',
      './lib/systemd/system/flotilla-agent.service',
      './etc/flotilla/agent.yaml',
      './usr/share/doc/flotilla-agent/copyright',
    ]) {
      expect(agent.stdout, path).toContain(path);
    }
    // Bundled: no TypeScript build output travels with the program, and of node_modules only
    // pino-pretty's own bundle, which the logger loads by name on a terminal.
    expect(agent.stdout).not.toMatch(/\.tsbuildinfo|\/dist\//);
    expect(agent.stdout.split('\n').filter((l) => l.includes('node_modules/') && !/lib\/node_modules\/(pino-pretty\/(index\.js|package\.json)?)?$/.test(l))).toEqual([]);

    const controller = await command('dpkg-deb', ['-c', debs.controller]);
    for (const path of [
      './usr/share/flotilla-controller/lib/flotilla-controller.js',
      './usr/share/flotilla-controller/lib/flotilla.js',
      './usr/share/flotilla-controller/flotilla.proto',
      './usr/bin/flotilla -> ../share/flotilla-controller/lib/flotilla.js',
      './lib/systemd/system/flotilla-controller.service',
      './etc/flotilla/controller.yaml',
    ]) {
      expect(controller.stdout, path).toContain(path);
    }
    expect(controller.stdout).not.toMatch(/\.tsbuildinfo|\/dist\//);

    for (const [deb, role] of [[debs.agent, 'agent'], [debs.controller, 'controller']] as const) {
      expect((await command('dpkg-deb', ['-f', deb, 'Depends'])).stdout).toMatch(/^nodejs \(>= 20\)/);
      expect((await command('dpkg-deb', ['-f', deb, 'Architecture'])).stdout.trim()).toBe('all');
      expect((await command('dpkg-deb', ['-I', deb, 'conffiles'])).stdout.trim()).toBe(`/etc/flotilla/${role}.yaml`);
      expect((await command('dpkg-deb', ['-I', deb, 'postinst'])).stdout).toMatch(/adduser --system/);
    }
  });

  it('lintian reports no error', async () => {
    const r = await command('lintian', ['--fail-on', 'error', debs.agent, debs.controller], { timeoutMs: 180_000 });
    expect(r.stdout.split('\n').filter((l) => l.startsWith('E:')), r.stdout).toEqual([]);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  });

  describe(onSystem ? 'installed on this machine' : 'unpacked into a throwaway root', () => {
    let where: Layout;
    let nats: NatsServer;
    let user: Account | undefined;
    /** The user the agent runs apps as (the package makes it). */
    let appUser: Account | undefined;
    let controller: (ChildProcess & { output: () => string }) | undefined;
    let agent: (ChildProcess & { output: () => string }) | undefined;
    let agentUnit: UnitExec;
    let controllerUnit: UnitExec;
    let releaseKey: KeyFiles;
    let grpcPort: number;
    let httpPort: number;
    let appPort: number;
    let installed = false;
    let unlock: (() => Promise<void>) | undefined;

    const rewrite = (word: string) => (where.prefix && /^\/(usr\/share|etc)\/flotilla/.test(word) ? `${where.prefix}${word}` : word);
    const cli = (args: string[]) =>
      command(`${where.prefix}/usr/bin/flotilla`, args, {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', FLOTILLA_CONTROLLER: `127.0.0.1:${grpcPort}` },
      });
    const diagnostics = () => `controller:\n${controller?.output() ?? ''}\nagent:\n${agent?.output() ?? ''}`;
    const startAgent = () => {
      // The agent's unit runs it as root (with a small capability set under systemd).
      agent = startAsUnit(agentUnit, { rewrite });
    };
    const answer = async (): Promise<{ version: string; pid: number } | undefined> => {
      try {
        const res = await fetch(`http://127.0.0.1:${appPort}/`, { signal: AbortSignal.timeout(2000) });
        return res.ok ? ((await res.json()) as { version: string; pid: number }) : undefined;
      } catch {
        return undefined;
      }
    };

    beforeAll(async () => {
      if (onSystem) {
        unlock = await lockSystemInstall();
        const r = await command('dpkg', ['-i', debs.agent, debs.controller], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
        installed = true;
        if (r.code !== 0) throw new Error(`dpkg -i failed:\n${r.stdout}${r.stderr}`);
        where = layout('');
        user = await account('flotilla');
        appUser = await account('flotilla-app');
      } else {
        const root = join(work, 'root');
        for (const deb of [debs.agent, debs.controller]) {
          const r = await command('dpkg-deb', ['-x', deb, root]);
          if (r.code !== 0) throw new Error(`dpkg-deb -x failed: ${r.stderr}`);
        }
        where = layout(root);
        await mkdir(join(where.etc, 'keys'), { recursive: true });
        await mkdir(where.agentData, { recursive: true });
        await mkdir(where.controllerData, { recursive: true });
      }
      agentUnit = await readUnit(`${where.prefix}/lib/systemd/system/flotilla-agent.service`);
      controllerUnit = await readUnit(`${where.prefix}/lib/systemd/system/flotilla-controller.service`);

      nats = await startNatsServer();
      grpcPort = await freePort();
      httpPort = await freePort();
      appPort = await freePort();
      releaseKey = await writeKeyPair(work, 'release');
      const keys = join(where.etc, 'keys');
      const controllerKey = await writeKeyPair(keys, 'controller');
      await writeFile(join(keys, 'release.pub'), await readFile(releaseKey.pubPath));
      // The controller's signing key is the service's own secret: owned by it, mode 0600.
      if (user) await chown(controllerKey.keyPath, user.uid, user.gid);

      await writeFile(
        join(where.etc, 'controller.yaml'),
        [
          `nats: { servers: ["${nats.url}"], kvReplicas: 1 }`,
          `grpc: { listen: "127.0.0.1:${grpcPort}" }`,
          `http: { listen: "127.0.0.1:${httpPort}" }`,
          `dataDir: ${where.controllerData}`,
          `trustedKeys: [${join(keys, 'release.pub')}]`,
          `controllerKey: ${controllerKey.keyPath}`,
          '',
        ].join('\n'),
      );
      await writeFile(
        join(where.etc, 'agent.yaml'),
        [
          'hostId: pkg-host',
          'labels: { env: test }',
          `nats: { servers: ["${nats.url}"] }`,
          `controller: { address: "127.0.0.1:${grpcPort}" }`,
          `dataDir: ${where.agentData}`,
          `trustedKeys: [${join(keys, 'release.pub')}]`,
          `controllerPublicKeys: [${controllerKey.pubPath}]`,
          'heartbeatInterval: 1s',
          `apps: { demo: { env: { PORT: "${appPort}" } } }`,
          '',
        ].join('\n'),
      );
      // (The lock may be held by the Ansible test for a few minutes.)
    }, 420_000);

    afterAll(async () => {
      await stopChild(agent);
      if (where) await killAppsOf(where.agentData);
      await stopChild(controller);
      await nats?.stop();
      // Whatever happened above, a machine the test installed onto is given back as it was.
      if (installed) await command('dpkg', ['--purge', ...PACKAGES]);
      await unlock?.();
    }, 60_000);

    if (onSystem) {
      it('made the flotilla user, gave it the config, and enabled and started nothing', async () => {
        expect(user, 'the flotilla user').toBeDefined();
        for (const role of ['agent', 'controller']) {
          const s = await stat(join(where.etc, `${role}.yaml`));
          expect((s.mode & 0o777).toString(8), role).toBe('640');
          expect(s.gid, role).toBe(user?.gid);
        }
        expect(appUser, 'the flotilla-app user').toBeDefined();
        const data = await stat(where.agentData);
        expect(data.uid, "the agent's state is root's").toBe(0);
        expect((data.mode & 0o777).toString(8)).toBe('711');
        for (const p of PACKAGES) {
          await expect(stat(`/etc/systemd/system/multi-user.target.wants/${p}.service`), p).rejects.toThrow();
        }
        const running = await command('pgrep', ['-u', 'flotilla']);
        expect(running.stdout.trim(), 'processes of the flotilla user').toBe('');
      });
    }

    it('runs the controller and the agent as their units do, and deploys a release through them', async () => {
      expect(controllerUnit.user).toBe('flotilla');
      expect(agentUnit.user).toBe('root');
      controller = startAsUnit(controllerUnit, { ...(user ? { as: user } : {}), rewrite });
      await waitUntil('the installed controller to answer /healthz', async () => {
        if (controller?.exitCode !== null) throw new Error(`the controller exited:\n${controller?.output()}`);
        const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(1000) });
        return res.ok;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      startAgent();
      await waitUntil('pkg-host to be up', async () => {
        const r = await cli(['hosts', '--json']);
        return r.code === 0 && /"pkg-host"[\s\S]*"up"/.test(r.stdout);
      }, { timeoutMs: 30_000, intervalMs: 200 }).catch((err: Error) => {
        throw new Error(`${err.message}\n${diagnostics()}`);
      });

      const file = await buildDemoAppRelease({ version: '1.0.0', outDir: work });
      const push = await cli(['artifact', 'push', file, '--app', 'demo', '--version', '1.0.0', '--key', releaseKey.keyPath]);
      expect(push.code, `${push.stderr}\n${diagnostics()}`).toBe(0);
      const deploy = await cli(['deploy', 'demo@1.0.0', '--wait-timeout', '60s']);
      expect(deploy.code, `${deploy.stdout}${deploy.stderr}\n${diagnostics()}`).toBe(0);
      const served = await waitUntil('the app to answer', answer, { timeoutMs: 15_000, intervalMs: 100 });
      expect(served.version).toBe('1.0.0');
      if (appUser) expect(await processUid(served.pid), 'the app runs as the app user, not the agent').toBe(appUser.uid);
    });

    it('the installed programs find pino-pretty, which they load by name when logging to a terminal', async () => {
      for (const program of ['flotilla-agent/lib/flotilla-agent.js', 'flotilla-controller/lib/flotilla-controller.js']) {
        const from = `${where.prefix}/usr/share/${program}`;
        const r = await command(process.execPath, ['-e', `require('node:module').createRequire(${JSON.stringify(from)})('pino-pretty')`]);
        expect(r.code, `${program}: ${r.stderr}`).toBe(0);
      }
    });

    it('upgrading the agent to a newer package restarts the agent only: the app keeps its process', async () => {
      // KillMode=process is what keeps apps alive across the restart that the upgrade triggers.
      expect(agentUnit.killMode).toBe('process');
      const before = await answer();
      expect(before?.version).toBe('1.0.0');
      const newer = await buildPackages(join(work, 'newer'), NEWER);
      const again = onSystem
        ? await command('dpkg', ['-i', newer.agent], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
        : await command('dpkg-deb', ['-x', newer.agent, where.prefix]);
      expect(again.code, `${again.stdout}${again.stderr}`).toBe(0);
      if (onSystem) expect((await command('dpkg-query', ['-W', '-f=${Version}', 'flotilla-agent'])).stdout).toBe(NEWER);
      // What systemd's try-restart does under KillMode=process: SIGTERM to the main process only.
      await stopChild(agent);
      expect(pidAlive(before?.pid ?? 0), 'the app outlived the agent').toBe(true);
      startAgent();
      await waitUntil('the new agent to report the app running and healthy', async () => {
        const r = await cli(['status', 'demo', '--json']);
        if (r.code !== 0) return false;
        const app = (JSON.parse(r.stdout) as { hosts: Array<{ apps: Array<{ app: string; process_state: string; health: string }> }> }).hosts[0]?.apps.find((a) => a.app === 'demo');
        return app?.process_state === 'running' && app.health === 'healthy';
      }, { timeoutMs: 30_000, intervalMs: 200 });
      const after = await answer();
      expect(after).toEqual(before);
      if (onSystem) expect((await readFile('/etc/flotilla/agent.yaml', 'utf8')), 'the edited conffile survives').toContain('pkg-host');
    });

    if (onSystem) {
      it('purging both packages leaves nothing of theirs behind', async () => {
        await stopChild(agent);
        await killAppsOf(where.agentData);
        await stopChild(controller);
        const r = await command('dpkg', ['--purge', ...PACKAGES]);
        expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
        installed = false;
        expect(await account('flotilla')).toBeUndefined();
        expect(await account('flotilla-app')).toBeUndefined();
        expect((await command('getent', ['group', 'flotilla'])).code).not.toBe(0);
        for (const path of ['/etc/flotilla', '/var/lib/flotilla', '/var/lib/flotilla-controller', '/usr/share/flotilla-agent', '/usr/share/flotilla-controller', '/usr/bin/flotilla', '/lib/systemd/system/flotilla-agent.service']) {
          await expect(stat(path), path).rejects.toThrow();
        }
      });
    }
  });
});
