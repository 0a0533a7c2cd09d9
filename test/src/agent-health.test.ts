import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppSupervisor, probeHealth, type ProcessSnapshot } from '@flotilla/agent';
import { createLogger, parseManifest, type HealthCheckSpec } from '@flotilla/shared';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deadlineMs } from './deadline.js';

/** A health spec with the manifest's defaults filled in. */
function healthSpec(health: Record<string, unknown>): HealthCheckSpec {
  return parseManifest(JSON.stringify({ start: { command: 'true' }, health })).health as HealthCheckSpec;
}

function listening<T extends Server | HttpServer>(server: T): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

const closed = (server: Server | HttpServer) => new Promise<void>((r) => server.close(() => r()));

/** A loopback port nothing listens on (bound, read, closed). */
async function freePort(): Promise<number> {
  const server = createTcpServer();
  const port = await listening(server);
  await closed(server);
  return port;
}

const ctx = (env: Record<string, string> = {}) => ({ cwd: tmpdir(), env });

describe('HTTP health probe', () => {
  let server: HttpServer;
  let port: number;
  const stalled: Array<() => void> = [];

  beforeAll(async () => {
    server = createHttpServer((req, res) => {
      switch (req.url) {
        case '/ok':
          res.end('ok');
          return;
        case '/moved':
          res.writeHead(301, { location: '/ok' }).end();
          return;
        case '/sick':
          res.writeHead(503).end('sick');
          return;
        case '/stall':
          stalled.push(() => res.end());
          return;
        default:
          res.writeHead(404).end();
      }
    });
    port = await listening(server);
  });

  afterAll(async () => {
    for (const release of stalled) release();
    server.closeAllConnections();
    await closed(server);
  });

  it('passes on 2xx and 3xx, expanding ${VAR} in the URL from the app env', async () => {
    const env = { PORT: String(port) };
    await expect(probeHealth(healthSpec({ http: { url: 'http://127.0.0.1:${PORT}/ok' } }), ctx(env))).resolves.toEqual({
      ok: true,
      detail: `GET http://127.0.0.1:${port}/ok answered 200`,
    });
    const moved = await probeHealth(healthSpec({ http: { url: `http://127.0.0.1:${port}/moved` } }), ctx());
    expect(moved.ok).toBe(true);
  });

  it('fails on other statuses unless expectStatus lists them', async () => {
    const sick = await probeHealth(healthSpec({ http: { url: `http://127.0.0.1:${port}/sick` } }), ctx());
    expect(sick).toEqual({ ok: false, detail: `GET http://127.0.0.1:${port}/sick answered 503` });
    const expected = await probeHealth(
      healthSpec({ http: { url: `http://127.0.0.1:${port}/sick`, expectStatus: [503] } }),
      ctx(),
    );
    expect(expected.ok).toBe(true);
    const notListed = await probeHealth(
      healthSpec({ http: { url: `http://127.0.0.1:${port}/ok`, expectStatus: [204] } }),
      ctx(),
    );
    expect(notListed.ok).toBe(false);
  });

  it('fails when the app does not answer within the timeout', async () => {
    const r = await probeHealth(healthSpec({ http: { url: `http://127.0.0.1:${port}/stall` }, timeout: '200ms' }), ctx());
    expect(r).toEqual({ ok: false, detail: `GET http://127.0.0.1:${port}/stall timed out after 200 ms` });
  });

  it('fails when nothing listens, and when the URL is not valid after expansion', async () => {
    const refused = await probeHealth(healthSpec({ http: { url: `http://127.0.0.1:${await freePort()}/` } }), ctx());
    expect(refused.ok).toBe(false);
    expect(refused.detail).toMatch(/failed: .*ECONNREFUSED/);
    const bad = await probeHealth(healthSpec({ http: { url: 'http://127.0.0.1:${NOPE}/' } }), ctx());
    expect(bad).toEqual({ ok: false, detail: 'health URL is not a valid URL after expansion: http://127.0.0.1:${NOPE}/' });
  });
});

describe('TCP health probe', () => {
  it('passes when the port accepts a connection and fails when it does not', async () => {
    const server = createTcpServer((socket) => socket.destroy());
    const port = await listening(server);
    try {
      const up = await probeHealth(healthSpec({ tcp: { port: '${PORT}' } }), ctx({ PORT: String(port) }));
      expect(up).toEqual({ ok: true, detail: `connected to 127.0.0.1:${port}` });
    } finally {
      await closed(server);
    }
    const down = await probeHealth(healthSpec({ tcp: { host: '127.0.0.1', port } }), ctx());
    expect(down.ok).toBe(false);
    expect(down.detail).toMatch(new RegExp(`^connect 127.0.0.1:${port} failed: .*ECONNREFUSED`));
  });

  it('fails with a clear detail when the port is not a number after expansion', async () => {
    const r = await probeHealth(healthSpec({ tcp: { port: '${PORT}' } }), ctx());
    expect(r).toEqual({ ok: false, detail: 'health check TCP port is not a valid port after expansion: ${PORT}' });
  });
});

describe('supervised app with a network health check', () => {
  let root: string;
  let releaseDir: string;
  const supervisors: AppSupervisor[] = [];

  afterEach(async () => {
    await Promise.all(supervisors.splice(0).map((s) => s.stop()));
    await rm(root, { recursive: true, force: true });
  });

  // Answers 200 on /healthz until a file named "sick" appears in its working directory.
  const APP = `
    const fs = require('fs');
    require('http').createServer((req, res) => {
      res.writeHead(fs.existsSync('sick') ? 503 : 200).end(process.env.FLOTILLA_VERSION);
    }).listen(Number(process.env.PORT), '127.0.0.1');
  `;

  async function supervise(health: Record<string, unknown>): Promise<{ sup: AppSupervisor; changes: ProcessSnapshot[] }> {
    root = await mkdtemp(join(tmpdir(), 'flotilla-agent-health-'));
    releaseDir = join(root, 'releases', '2.0.0');
    await mkdir(releaseDir, { recursive: true });
    const changes: ProcessSnapshot[] = [];
    const sup = new AppSupervisor(
      {
        app: 'web',
        version: '2.0.0',
        releaseDir,
        manifest: parseManifest(JSON.stringify({ start: { command: [process.execPath, '-e', APP] }, health })),
        env: { PORT: String(await freePort()) },
        logDir: join(root, 'logs'),
      },
      { logger: createLogger({ name: 'test', level: 'silent' }), onChange: (s) => changes.push(s) },
    );
    supervisors.push(sup);
    return { sup, changes };
  }

  async function waitForHealth(sup: AppSupervisor, health: ProcessSnapshot['health']): Promise<void> {
    const deadline = Date.now() + deadlineMs(15_000);
    while (sup.snapshot().health !== health) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for health ${health}: ${JSON.stringify(sup.snapshot())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('follows the app over HTTP: healthy, unhealthy while it answers 503, healthy again', async () => {
    const { sup, changes } = await supervise({
      http: { url: 'http://127.0.0.1:${PORT}/healthz' },
      interval: '50ms',
      timeout: '500ms',
      failureThreshold: 2,
      // Probes that fail before the app first listens do not count: a loaded machine may take
      // longer than two intervals to start it, and this test is about what follows.
      startPeriod: `${deadlineMs(10_000)}ms`,
    });
    await sup.start();
    await waitForHealth(sup, 'healthy');
    expect(sup.snapshot().processState).toBe('running');

    await writeFile(join(releaseDir, 'sick'), '');
    await waitForHealth(sup, 'unhealthy');
    expect(sup.snapshot().error).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/healthz answered 503$/);
    // An unhealthy app is reported, not restarted.
    expect(sup.snapshot()).toMatchObject({ processState: 'running', restarts: 0 });

    await unlink(join(releaseDir, 'sick'));
    await waitForHealth(sup, 'healthy');
    expect(sup.snapshot().error).toBeNull();
    expect(changes.map((c) => c.health).filter((h, i, all) => h !== all[i - 1])).toEqual([
      'unknown',
      'healthy',
      'unhealthy',
      'healthy',
    ]);
  });

  it('follows the app over TCP', async () => {
    const { sup } = await supervise({ tcp: { port: '${PORT}' }, interval: '50ms', timeout: '500ms' });
    await sup.start();
    await waitForHealth(sup, 'healthy');
    await sup.stop();
    expect(sup.snapshot()).toMatchObject({ processState: 'stopped', health: 'unknown', pid: null });
    expect(existsSync(join(root, 'logs', 'web.log'))).toBe(true);
  });
});
