import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, tempDir, writeKeyPair, type KeyFiles } from './agent-process.js';
import { ControllerProcess, runControllerToExit } from './controller-process.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { rm } from 'node:fs/promises';

// A NATS URL with credentials in it (nats://user:pass@host:port), as a deployment's config or
// environment may well hold one: both programs connect with those credentials, and the password
// appears in none of their output, whether the connection works or is refused.

const CONTROLLER_PASSWORD = 'ctl-pw-7f3a9c';
const HOST_PASSWORD = 'host-pw-2b8e41';
const WRONG_PASSWORD = 'wrong-pw-55d0e1';

describe('NATS URLs with credentials', () => {
  let nats: NatsServer;
  let dir: string;
  let releaseKey: KeyFiles;
  let controllerKey: KeyFiles;
  let controller: ControllerProcess | undefined;
  let agent: AgentProcess | undefined;
  const url = (user: string, password: string) => nats.url.replace('nats://', `nats://${user}:${password}@`);

  beforeAll(async () => {
    nats = await startNatsServer({
      config: `authorization { users: [ { user: ctl, password: "${CONTROLLER_PASSWORD}" }, { user: host-1, password: "${HOST_PASSWORD}" } ] }`,
    });
    dir = await tempDir('nats-url');
    releaseKey = await writeKeyPair(dir, 'release');
    controllerKey = await writeKeyPair(dir, 'controller');
  });

  afterAll(async () => {
    await agent?.stop();
    await controller?.stop();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the controller connects with them and never prints the password', async () => {
    controller = await ControllerProcess.start({
      natsUrl: url('ctl', CONTROLLER_PASSWORD),
      dir: join(dir, 'controller'),
      controllerKey: controllerKey.keyPath,
      trustedKeys: [releaseKey.pubPath],
      logLevel: 'debug',
    });
    const res = await fetch(`http://${controller.http}/healthz`);
    expect(res.status).toBe(200);
    expect(controller.output()).not.toContain(CONTROLLER_PASSWORD);
  });

  it('the agent connects with them and never prints the password', async () => {
    agent = AgentProcess.spawn({
      hostId: 'host-1',
      natsUrl: url('host-1', HOST_PASSWORD),
      dataDir: join(dir, 'host-1'),
      controller: controller?.grpc ?? '127.0.0.1:1',
      trustedKeys: [releaseKey.pubPath],
      controllerPublicKeys: [controllerKey.pubPath],
    });
    await agent.waitForLog((l) => l.msg === 'connected to NATS');
    expect(agent.logs).not.toContain(HOST_PASSWORD);
  });

  it('a wrong password in the URL fails the controller with a message that does not show it', async () => {
    const r = await runControllerToExit([
      '--nats', url('ctl', WRONG_PASSWORD),
      '--grpc-listen', '127.0.0.1:0',
      '--http-listen', '127.0.0.1:0',
      '--data-dir', join(dir, 'controller-wrong'),
      '--controller-key', controllerKey.keyPath,
      '--trusted-key', releaseKey.pubPath,
      '--no-log-pretty',
    ]);
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/authoriz|authentic/i);
    expect(`${r.stdout}${r.stderr}`).not.toContain(WRONG_PASSWORD);
  });

  it('credentials in the URL that contradict the configured ones are refused at start, without either secret', async () => {
    const r = await runControllerToExit(
      [
        '--nats', url('ctl', WRONG_PASSWORD),
        '--data-dir', join(dir, 'controller-clash'),
        '--controller-key', controllerKey.keyPath,
        '--trusted-key', releaseKey.pubPath,
        '--no-log-pretty',
      ],
      { env: { FLOTILLA_NATS_USER: 'ctl', FLOTILLA_NATS_PASSWORD: CONTROLLER_PASSWORD } },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nats\.servers/);
    expect(r.stderr).toContain('***@127.0.0.1');
    expect(`${r.stdout}${r.stderr}`).not.toContain(WRONG_PASSWORD);
    expect(`${r.stdout}${r.stderr}`).not.toContain(CONTROLLER_PASSWORD);
  });
});
