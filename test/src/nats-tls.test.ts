// NATS over TLS, mutual: a nats-server that verifies client certificates, certificates made
// with openssl for the test, and the real controller and agent connecting with `nats.tls`.
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListHostsResponse__Output } from '@flotilla/proto';
import { AgentProcess, freePort, killAppsOf, tempDir } from './agent-process.js';
import { ControllerProcess, controllerClients, unaryCall, waitUntil, type ControllerClients } from './controller-process.js';
import { writeKeyPair } from './keys.js';
import { runCli } from './fleet.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const run = promisify(execFile);

interface Pem {
  cert: string;
  key: string;
}

/** A P-256 key and a certificate for `cn` signed by the CA (or self-signed when `ca` is absent). */
async function makeCert(dir: string, name: string, cn: string, ca?: Pem, san?: string): Promise<Pem> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  if (!ca) {
    await run('openssl', ['req', '-x509', '-new', '-key', key, '-subj', `/CN=${cn}`, '-days', '1', '-out', cert]);
    return { cert, key };
  }
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, `${san ? `subjectAltName=${san}\n` : ''}extendedKeyUsage=serverAuth,clientAuth\n`);
  await run('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', csr]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', cert]);
  return { cert, key };
}

let dir: string;
let nats: NatsServer;
let ca: Pem;
let controller: ControllerProcess;
let clients: ControllerClients;
let agent: AgentProcess | undefined;
let serverCert: Pem;
let controllerCert: Pem;
let target: NatsServer | undefined;

beforeAll(async () => {
  dir = await tempDir('nats-tls');
  ca = await makeCert(dir, 'ca', 'Flotilla test CA');
  serverCert = await makeCert(dir, 'server', 'nats', ca, 'IP:127.0.0.1,DNS:localhost');
  nats = await startNatsServer({ config: tlsBlock(serverCert) });
  const client = await makeCert(dir, 'controller', 'flotilla-controller', ca);
  controllerCert = client;
  const release = await writeKeyPair(dir, 'release');
  const controllerKey = await writeKeyPair(dir, 'ctlkey');
  controller = await ControllerProcess.start({
    natsUrl: nats.url,
    dir: join(dir, 'controller'),
    controllerKey: controllerKey.keyPath,
    trustedKeys: [release.pubPath],
    env: { FLOTILLA_NATS_TLS_CA: ca.cert, FLOTILLA_NATS_TLS_CERT: client.cert, FLOTILLA_NATS_TLS_KEY: client.key },
  });
  clients = controllerClients(controller.grpc);
  const hostCert = await makeCert(dir, 'web-01', 'web-01', ca);
  agent = AgentProcess.spawn({
    hostId: 'web-01',
    natsUrl: nats.url,
    dataDir: join(dir, 'agent'),
    controller: controller.grpc,
    trustedKeys: [release.pubPath],
    controllerPublicKeys: [controllerKey.pubPath],
    appEnv: [`demo:PORT=${await freePort()}`],
    env: { FLOTILLA_NATS_TLS_CA: ca.cert, FLOTILLA_NATS_TLS_CERT: hostCert.cert, FLOTILLA_NATS_TLS_KEY: hostCert.key },
  });
});

const tlsBlock = (server: Pem) => `tls { cert_file: "${server.cert}", key_file: "${server.key}", ca_file: "${ca.cert}", verify: true, timeout: 5 }`;

afterAll(async () => {
  await target?.stop();
  await agent?.stop();
  if (dir) await killAppsOf(join(dir, 'agent'));
  clients?.close();
  await controller?.stop();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('NATS over mutual TLS', () => {
  it('the controller and the agent connect, the host registers and its sync is answered', async () => {
    await waitUntil(
      'web-01 up at the controller',
      async () => {
        const res = await unaryCall<object, ListHostsResponse__Output>(clients.control, 'ListHosts', {});
        return res.hosts.some((h) => h.host_id === 'web-01' && h.state === 'up');
      },
      { timeoutMs: 30_000 },
    );
    // The sync reply came back over TLS, in the host's own inbox.
    await agent?.waitForLog((l) => l['msg'] === 'controller has no assignment for this host', 30_000);
  });

  it('a client without a certificate, or without TLS, is refused', async () => {
    await expect(connect({ servers: nats.url, tls: { caFile: ca.cert }, reconnect: false, timeout: 5000 })).rejects.toThrow();
    await expect(connect({ servers: nats.url, reconnect: false, timeout: 5000 })).rejects.toThrow();
  });

  it('flotilla nats migrate copies the state to another NATS over mutual TLS, and says which side refused it', async () => {
    // Run with the controllers stopped, as the command asks: the state must be still.
    await agent?.stop();
    agent = undefined;
    await controller.stop();
    target = await startNatsServer({ config: tlsBlock(serverCert) });
    const side = (name: 'from' | 'to', pem: Pem) => [`--${name}-tls-ca`, ca.cert, `--${name}-tls-cert`, pem.cert, `--${name}-tls-key`, pem.key];
    const migrate = (...extra: string[]) => runCli(['nats', 'migrate', '--from', nats.url, '--to', target!.url, '--replicas', '1', ...extra], { timeoutMs: 120_000 });

    const copied = await migrate(...side('from', controllerCert), ...side('to', controllerCert));
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toMatch(/^KV_flotilla_hosts\s+copied\s/m);
    expect(copied.stdout).toMatch(/^KV_flotilla_assignments_0\s+(copied|already there)\s/m);
    expect(copied.stdout).toMatch(/every copy matches its source/);

    // The target's server verifies clients: without a certificate the target side is refused, by name.
    const noCert = await migrate(...side('from', controllerCert), '--to-tls-ca', ca.cert);
    expect(noCert.code).toBe(3);
    expect(noCert.stderr).toMatch(/cannot connect to the target NATS at /);
    // A certificate without its key, and a file that is not there, are named before connecting.
    const half = await migrate('--from-tls-cert', controllerCert.cert, ...side('to', controllerCert));
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--from-tls-cert and --from-tls-key go together/);
    const missing = await migrate('--from-tls-ca', join(dir, 'nope.crt'), ...side('to', controllerCert));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--from-tls-ca .*nope\.crt: ENOENT/);
    const empty = await migrate('--from-tls-ca', '', ...side('to', controllerCert));
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/--from-tls-ca: must not be empty/);
  });
});
