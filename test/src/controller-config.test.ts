import { access, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListHostsResponse__Output } from '@flotilla/proto';
import {
  ControllerProcess,
  bearer,
  controllerClients,
  controllerTestDir,
  downloadArtifact,
  releaseTarball,
  runControllerToExit,
  sha256Hex,
  signArtifact,
  unaryCall,
  uploadArtifact,
  writeTestKeyPair,
  type TestKeyPair,
} from './controller-process.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

let nats: NatsServer;
let dir: string;
let release: TestKeyPair;
let controllerKey: TestKeyPair;

beforeAll(async () => {
  dir = await controllerTestDir('controller-config');
  nats = await startNatsServer();
  release = await writeTestKeyPair(dir, 'release');
  controllerKey = await writeTestKeyPair(dir, 'controller');
});

afterAll(async () => {
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('bad configuration', () => {
  const base = () => [
    '--nats', nats.url,
    '--data-dir', join(dir, 'data'),
    '--controller-key', controllerKey.keyPath,
    '--trusted-key', release.pubPath,
    '--grpc-listen', '127.0.0.1:0',
    '--http-listen', '127.0.0.1:0',
  ];

  const without = (flag: string) => base().filter((a, i, all) => a !== flag && all[i - 1] !== flag);

  it('exits 2 with one clear line naming the field', async () => {
    const cases: { args: string[]; env?: Record<string, string>; message: RegExp }[] = [
      { args: without('--controller-key'), message: /controllerKey: is required/ },
      { args: [...base(), '--grpc-listen', 'nowhere'], message: /grpc\.listen: "nowhere" is not HOST:PORT/ },
      { args: [...base(), '--trusted-key', join(dir, 'missing.pub')], message: /trustedKeys: cannot read key file .*missing\.pub/ },
      { args: [...base(), '--controller-key', release.pubPath], message: /controllerKey: .*not a PEM private key/ },
      { args: [...base(), '--log-level', 'loud'], message: /log\.level/ },
      { args: [...base(), '--no-such-flag'], message: /unknown option '--no-such-flag'/ },
      { args: without('--http-listen'), env: { FLOTILLA_HTTP_LISTEN: '1.2.3.4:99999' }, message: /http\.listen/ },
      { args: [...base(), '--config', join(dir, 'missing.yaml')], message: /cannot read config file .*missing\.yaml/ },
      { args: [...base(), '--advertise', '0.0.0.0'], message: /advertise: "0\.0\.0\.0" means every interface/ },
      { args: base(), env: { FLOTILLA_ADVERTISE: '[::]' }, message: /advertise: "\[::\]" means every interface/ },
      { args: [...base(), '--advertise', 'ctl-1.example:7400'], message: /advertise: .* has a port/ },
    ];
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'hosts:\n  downAfterMissed: 0\n');
    cases.push({ args: [...base(), '--config', file], message: /hosts\.downAfterMissed/ });

    for (const c of cases) {
      const r = await runControllerToExit(c.args, { env: c.env ?? {}, timeoutMs: 5000 });
      expect(r.code, c.message.source).toBe(2);
      expect(r.stderr, c.message.source).toMatch(c.message);
      expect(r.stderr.trim().split('\n'), c.message.source).toHaveLength(1);
      expect(r.stderr).toMatch(/^flotilla-controller: /);
    }
  });

  it('exits 1 with a clear message when NATS cannot be reached', async () => {
    const file = join(dir, 'unreachable.yaml');
    await writeFile(file, 'nats:\n  servers: [nats://127.0.0.1:1]\n  connectTimeout: 500ms\n');
    const r = await runControllerToExit([...without('--nats'), '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});

describe('API token', () => {
  const token = 'sesame-0123456789';
  let controller: ControllerProcess;

  beforeAll(async () => {
    controller = await ControllerProcess.start({
      natsUrl: nats.url,
      dir: join(dir, 'auth'),
      controllerKey: controllerKey.keyPath,
      trustedKeys: [release.pubPath],
      apiToken: token,
    });
  });

  afterAll(async () => {
    await controller?.stop();
  });

  it('refuses calls without the token or with a wrong one, on every service', async () => {
    const clients = controllerClients(controller.grpc);
    try {
      const missing = (await unaryCall(clients.control, 'ListHosts', { selector: '' }).catch((e: unknown) => e)) as ServiceError;
      expect(missing.code).toBe(status.UNAUTHENTICATED);
      expect(missing.details).toMatch(/requires an API token/);
      const wrong = (await unaryCall(clients.control, 'ListHosts', { selector: '' }, bearer('guess')).catch((e: unknown) => e)) as ServiceError;
      expect(wrong.code).toBe(status.UNAUTHENTICATED);
      expect(wrong.details).toMatch(/not valid/);

      const bytes = await releaseTarball(join(dir, 'auth'));
      const header = signArtifact(bytes, 'web', '1', release.signer);
      const upload = (await uploadArtifact(clients.artifacts, header, bytes).catch((e: unknown) => e)) as ServiceError;
      expect(upload.code).toBe(status.UNAUTHENTICATED);
      const download = (await downloadArtifact(clients.artifacts, sha256Hex(bytes)).catch((e: unknown) => e)) as ServiceError;
      expect(download.code).toBe(status.UNAUTHENTICATED);
      // Nothing was stored by the refused upload.
      const stored = await readdir(join(controller.dataDir, 'artifacts'));
      expect(stored).toEqual([]);

      const ok = await unaryCall<{ selector: string }, ListHostsResponse__Output>(clients.control, 'ListHosts', { selector: '' }, bearer(token));
      expect(ok.hosts).toEqual([]);
      const up = await uploadArtifact(clients.artifacts, header, bytes, { metadata: bearer(token) });
      expect(up.artifact?.sha256).toBe(sha256Hex(bytes));
      const down = await downloadArtifact(clients.artifacts, sha256Hex(bytes), 0, bearer(token));
      expect(down.data.equals(bytes)).toBe(true);
    } finally {
      clients.close();
    }
  });
});

describe('signals', () => {
  it('exits 0 after a graceful stop on SIGTERM and on SIGINT, removing its ready file', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const sub = join(dir, `signal-${signal}`);
      const controller = await ControllerProcess.start({
        natsUrl: nats.url,
        dir: sub,
        controllerKey: controllerKey.keyPath,
        trustedKeys: [release.pubPath],
      });
      const exit = await controller.stop(signal);
      expect(exit, signal).toEqual({ code: 0, signal: null });
      expect(controller.output()).toMatch(/controller stopped/);
      const leftovers = (await readdir(sub)).filter((f) => f.startsWith('ready-'));
      expect(leftovers, signal).toEqual([]);
      await expect(access(join(sub, 'data', 'artifacts'))).resolves.toBeUndefined();
    }
  });
});
