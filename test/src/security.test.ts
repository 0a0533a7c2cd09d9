import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControllerProcess,
  FakeHost,
  bearer,
  controllerClients,
  controllerTestDir,
  downloadArtifact,
  releaseTarball,
  runControllerToExit,
  sha256Hex,
  signArtifact,
  uploadArtifact,
  waitUntil,
  writeTestKeyPair,
  type ControllerClients,
  type TestKeyPair,
} from './controller-process.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { AGENT_MAIN } from './agent-process.js';

const FLOTILLA_CLI = fileURLToPath(new URL('../../controller/bin/flotilla.js', import.meta.url));
const run = promisify(execFile);

let nats: NatsServer;
let dir: string;
let pki: string;
let release: TestKeyPair;
let controllerKey: TestKeyPair;
let ctl: ControllerProcess;

const TOKENS = { viewer: 'viewer-token-0123456789', webDeployer: 'web-deployer-token-0123456789', shopStaging: 'shop-staging-token-0123456789', admin: 'admin-token-0123456789', promWeb: 'prom-web-token-0123456789' };
const hash = (t: string) => createHash('sha256').update(t).digest('hex');

async function cli(...args: string[]): Promise<{ stdout: string; code: number }> {
  try {
    const { stdout } = await run(process.execPath, [FLOTILLA_CLI, ...args], { timeout: 30_000 });
    return { stdout, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: `${e.stdout ?? ''}${e.stderr ?? ''}`, code: e.code ?? -1 };
  }
}

async function creds(who?: string, caFile = join(pki, 'ca.pem')): Promise<grpc.ChannelCredentials> {
  const ca = await readFile(caFile);
  if (!who) return grpc.credentials.createSsl(ca);
  return grpc.credentials.createSsl(ca, await readFile(join(pki, `${who}-key.pem`)), await readFile(join(pki, `${who}.pem`)));
}

function call<Res>(c: ControllerClients, method: string, request: object, md = new grpc.Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (c.control as unknown as Record<string, Function>)[method] as Function;
    fn.call(c.control, request, md, { deadline: Date.now() + 15_000 }, (err: grpc.ServiceError | null, res: Res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

async function refusal(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('the call was not refused');
}

beforeAll(async () => {
  dir = await controllerTestDir('security');
  pki = join(dir, 'pki');
  nats = await startNatsServer();
  release = await writeTestKeyPair(dir, 'release');
  controllerKey = await writeTestKeyPair(dir, 'controller');
  await run('mkdir', ['-p', pki, join(dir, 'other')]);
  for (const args of [
    ['tls', 'ca', 'create', '--out-dir', pki],
    ['tls', 'cert', 'create', '--server', '--ca-dir', pki, '--out-dir', pki],
    ['tls', 'cert', 'create', '--host', 'web-01', '--ca-dir', pki, '--out-dir', pki],
    ['tls', 'cert', 'create', '--host', 'web-02', '--ca-dir', pki, '--out-dir', pki],
    ['tls', 'cert', 'create', '--operator', 'alice', '--ca-dir', pki, '--out-dir', pki],
    ['tls', 'ca', 'create', '--out-dir', join(dir, 'other')],
    ['tls', 'cert', 'create', '--host', 'web-01', '--ca-dir', join(dir, 'other'), '--out-dir', join(dir, 'other')],
  ]) {
    const r = await cli(...args);
    expect(r.code, r.stdout).toBe(0);
  }
  const config = join(dir, 'controller.yaml');
  await writeFile(
    config,
    [
      'operators:',
      `  - name: viewer`,
      `    tokenSha256: ${hash(TOKENS.viewer)}`,
      '    roles: [{ role: viewer }]',
      `  - name: webdev`,
      `    tokenSha256: ${hash(TOKENS.webDeployer)}`,
      '    roles: [{ role: deployer, apps: [web] }]',
      `  - name: shopstaging`,
      `    tokenSha256: ${hash(TOKENS.shopStaging)}`,
      '    roles: [{ role: deployer, apps: [shop], selector: "env=staging" }]',
      `  - name: root`,
      `    tokenSha256: ${hash(TOKENS.admin)}`,
      '    roles: [{ role: admin }]',
      '  - name: alice',
      '    roles: [{ role: viewer }]',
      'http:',
      '  tls: true',
      'alerts:',
      '  sources:',
      '    - name: prom-web',
      `      tokenSha256: ${hash(TOKENS.promWeb)}`,
      '      apps: [web]',
      '',
    ].join('\n'),
  );
  ctl = await ControllerProcess.start({
    natsUrl: nats.url,
    dir,
    controllerKey: controllerKey.keyPath,
    trustedKeys: [release.pubPath],
    args: [
      '--config', config,
      '--tls-cert', join(pki, 'controller.pem'),
      '--tls-key', join(pki, 'controller-key.pem'),
      '--tls-ca', join(pki, 'ca.pem'),
    ],
  });
}, 60_000);

afterAll(async () => {
  await ctl?.stop();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('operator calls', () => {
  it('without credentials, with a wrong token, or a certificate from another CA: UNAUTHENTICATED, nothing changed', async () => {
    const plain = controllerClients(ctl.grpc, await creds());
    const foreign = controllerClients(ctl.grpc, await (async () => {
      const o = join(dir, 'other');
      return grpc.credentials.createSsl(await readFile(join(pki, 'ca.pem')), await readFile(join(o, 'host-web-01-key.pem')), await readFile(join(o, 'host-web-01.pem')));
    })());
    try {
      for (const [client, md] of [[plain, new grpc.Metadata()], [plain, bearer('not-a-token')], [foreign, new grpc.Metadata()]] as const) {
        expect((await refusal(call(client, 'ListHosts', {}, md))).code).toBe(grpc.status.UNAUTHENTICATED);
        expect((await refusal(call(client, 'Rollback', { app: 'web' }, md))).code).toBe(grpc.status.UNAUTHENTICATED);
      }
      const events = await call<{ events: unknown[] }>(plain, 'ListEvents', {}, bearer(TOKENS.admin));
      expect(events.events).toEqual([]);
    } finally {
      plain.close();
      foreign.close();
    }
  });

  it('too small a role: PERMISSION_DENIED naming the permission, nothing changed', async () => {
    const c = controllerClients(ctl.grpc, await creds());
    try {
      const viewer = await refusal(call(c, 'Rollback', { app: 'web' }, bearer(TOKENS.viewer)));
      expect(viewer.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(viewer.details).toMatch(/operator "viewer" lacks permission "deploy" on app "web"/);
      const otherApp = await refusal(call(c, 'Rollback', { app: 'api' }, bearer(TOKENS.webDeployer)));
      expect(otherApp.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(otherApp.details).toMatch(/lacks permission "deploy" on app "api"/);
      const revoke = await refusal(call(c, 'RevokeHost', { host_id: 'web-02' }, bearer(TOKENS.webDeployer)));
      expect(revoke.details).toMatch(/lacks permission "admin"/);
      expect((await call<{ events: unknown[] }>(c, 'ListEvents', {}, bearer(TOKENS.viewer))).events).toEqual([]);
      // The scoped deployer does reach the handler for its own app (which has nothing to roll back).
      const own = await refusal(call(c, 'Rollback', { app: 'web' }, bearer(TOKENS.webDeployer)));
      expect(own.code).not.toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      c.close();
    }
  });

  it('a deployer scoped to an app pushes that app only; the refused upload stores nothing', async () => {
    const bytes = await releaseTarball(join(dir, 'scoped'));
    const c = controllerClients(ctl.grpc, await creds());
    try {
      const other = await refusal(uploadArtifact(c.artifacts, signArtifact(bytes, 'api', '1.0.0', release.signer), bytes, { metadata: bearer(TOKENS.webDeployer) }));
      expect(other.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(other.details).toMatch(/operator "webdev" lacks permission "push" on app "api"/);
      const viewer = await refusal(uploadArtifact(c.artifacts, signArtifact(bytes, 'web', '0.9.0', release.signer), bytes, { metadata: bearer(TOKENS.viewer) }));
      expect(viewer.code).toBe(grpc.status.PERMISSION_DENIED);
      const listed = await call<{ artifacts: unknown[] }>(c, 'ListArtifacts', { app: 'api' }, bearer(TOKENS.admin));
      expect(listed.artifacts).toEqual([]);
      await uploadArtifact(c.artifacts, signArtifact(bytes, 'web', '0.1.0', release.signer), bytes, { metadata: bearer(TOKENS.webDeployer) });
    } finally {
      c.close();
    }
  });

  it('whoami names the authenticated identity, by token and by certificate', async () => {
    const r = await cli('whoami', '--controller', ctl.grpc, '--tls-ca', join(pki, 'ca.pem'), '--tls-cert', join(pki, 'operator-alice.pem'), '--tls-key', join(pki, 'operator-alice-key.pem'));
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('operator:alice (by certificate)');
    expect(r.stdout).toContain('viewer on *');
    const t = await cli('whoami', '--json', '--controller', ctl.grpc, '--tls-ca', join(pki, 'ca.pem'), '--token', TOKENS.webDeployer);
    expect(JSON.parse(t.stdout)).toMatchObject({ kind: 'operator', name: 'webdev', via: 'token', roles: [{ role: 'deployer', apps: ['web'] }] });
    const none = await cli('whoami', '--controller', ctl.grpc, '--tls-ca', join(pki, 'ca.pem'));
    expect(none.code).not.toBe(0);
    expect(none.stdout).toMatch(/requires an API token or a client certificate/);
  });
});

describe('a grant scoped to hosts by selector', () => {
  it('deploys to env=staging hosts and commands its own rollout; env=prod, the whole fleet, a rollback and another rollout are refused naming the scope, nothing changed', async () => {
    const c = controllerClients(ctl.grpc, await creds());
    const stg = await FakeHost.connect(nats.url, 'shop-stg-01', { labels: { env: 'staging' } });
    const prd = await FakeHost.connect(nats.url, 'shop-prd-01', { labels: { env: 'prod' } });
    const deployer = bearer(TOKENS.shopStaging);
    try {
      for (const h of [stg, prd]) {
        h.announce();
        h.startHeartbeats();
      }
      await waitUntil('both shop hosts registered', async () => {
        const r = await call<{ hosts: unknown[] }>(c, 'ListHosts', { selector: 'env' }, bearer(TOKENS.admin));
        return r.hosts.length >= 2;
      });
      // Pushing changes no host, so the scoped grant may upload its app's releases.
      const bytes = await releaseTarball(join(dir, 'shop'));
      await uploadArtifact(c.artifacts, signArtifact(bytes, 'shop', '1.0.0', release.signer), bytes, { metadata: deployer });

      for (const selector of ['env=prod', '', 'zone=a']) {
        const refused = await refusal(call(c, 'Deploy', { app: 'shop', version: '1.0.0', selector }, deployer));
        expect(refused.code, selector).toBe(grpc.status.PERMISSION_DENIED);
        expect(refused.details).toMatch(/operator "shopstaging" holds "deploy" on app "shop" only on hosts selected by "env=staging"/);
      }
      const rollout = await refusal(call(c, 'StartRollout', { app: 'shop', version: '1.0.0', selector: '' }, deployer));
      expect(rollout.code).toBe(grpc.status.PERMISSION_DENIED);
      const rollback = await refusal(call(c, 'Rollback', { app: 'shop' }, deployer));
      expect(rollback.details).toMatch(/Rollback reaches all of the app's hosts, which is not within that scope/);
      // Nothing changed: no rollout of shop, no assignment for either host.
      expect((await call<{ rollouts: unknown[] }>(c, 'ListRollouts', { app: 'shop' }, deployer)).rollouts).toEqual([]);
      expect((await prd.sync()).assignment).toBeNull();
      expect((await stg.sync()).assignment).toBeNull();

      const done = await call<{ rollout_id: string }>(c, 'Deploy', { app: 'shop', version: '1.0.0', selector: 'env=staging' }, deployer);
      await waitUntil('shop-stg-01 assigned', () => stg.assignments.length > 0);
      expect((await stg.sync()).assignment).not.toBeNull();
      expect((await prd.sync()).assignment).toBeNull();
      // A rollout command is judged by the rollout's own selector: its own staging rollout, yes.
      await call(c, 'RolloutCommand', { id: done.rollout_id, command: 'abort', no_revert: true }, deployer);
      const fleetWide = await call<{ rollout_id: string }>(c, 'Deploy', { app: 'shop', version: '1.0.0', selector: '' }, bearer(TOKENS.admin));
      const pause = await refusal(call(c, 'RolloutCommand', { id: fleetWide.rollout_id, command: 'pause' }, deployer));
      expect(pause.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(pause.details).toMatch(/RolloutCommand reaches every host \(empty selector\)/);
      const states = await call<{ rollouts: Array<{ id: string; status: string }> }>(c, 'ListRollouts', { app: 'shop' }, deployer);
      expect(states.rollouts.map((x) => [x.id, x.status])).toEqual([[fleetWide.rollout_id, 'running'], [done.rollout_id, 'aborted']]);
      await call(c, 'RolloutCommand', { id: fleetWide.rollout_id, command: 'abort', no_revert: true }, bearer(TOKENS.admin));

      const who = await cli('whoami', '--controller', ctl.grpc, '--tls-ca', join(pki, 'ca.pem'), '--token', TOKENS.shopStaging);
      expect(who.code, who.stdout).toBe(0);
      expect(who.stdout).toContain('deployer on shop (writes to hosts env=staging only)');
    } finally {
      await stg.close();
      await prd.close();
      c.close();
    }
  });
});

describe('bring your own CA', () => {
  it('a certificate made with openssl (the commands docs/operations.md shows) identifies its operator', async () => {
    const ext = join(dir, 'operator-ext.cnf');
    await writeFile(
      ext,
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=URI:flotilla://operator/alice\n',
    );
    const key = join(dir, 'ossl-alice-key.pem');
    const csr = join(dir, 'ossl-alice.csr');
    const cert = join(dir, 'ossl-alice.pem');
    await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=operator:alice/O=Flotilla']);
    await run('openssl', ['x509', '-req', '-in', csr, '-CA', join(pki, 'ca.pem'), '-CAkey', join(pki, 'ca-key.pem'), '-CAcreateserial', '-days', '30', '-out', cert, '-extfile', ext]);
    const r = await cli('whoami', '--controller', ctl.grpc, '--tls-ca', join(pki, 'ca.pem'), '--tls-cert', cert, '--tls-key', key);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('operator:alice (by certificate)');
  });
});

describe('host certificates', () => {
  it('cannot call the operator API, nor download an artifact not assigned to it', async () => {
    const bytes = await releaseTarball(join(dir, 'tarball'));
    const admin = controllerClients(ctl.grpc, await creds());
    const host = controllerClients(ctl.grpc, await creds('host-web-01'));
    try {
      await uploadArtifact(admin.artifacts, signArtifact(bytes, 'web', '1.0.0', release.signer), bytes, { metadata: bearer(TOKENS.admin) });
      const list = await refusal(call(host, 'ListHosts', {}));
      expect(list.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(list.details).toMatch(/host "web-01" may not call ListHosts/);
      const deploy = await refusal(call(host, 'Deploy', { app: 'web', version: '1.0.0' }));
      expect(deploy.code).toBe(grpc.status.PERMISSION_DENIED);
      const dl = await refusal(downloadArtifact(host.artifacts, sha256Hex(bytes)));
      expect(dl.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(dl.details).toMatch(/not assigned to it/);
      // An operator with view may download it: the refusal above is the host rule, not a missing artifact.
      expect((await downloadArtifact(admin.artifacts, sha256Hex(bytes), 0, bearer(TOKENS.viewer))).data.equals(Buffer.from(bytes))).toBe(true);
    } finally {
      admin.close();
      host.close();
    }
  });

  it('flotilla host revoke: the host certificate is refused from then on', async () => {
    const host = controllerClients(ctl.grpc, await creds('host-web-02'));
    try {
      expect((await call<{ kind: string; name: string }>(host, 'Whoami', {})).name).toBe('web-02');
      const r = await cli('host', 'revoke', 'web-02', '--controller', ctl.grpc, '--tls-ca', join(pki, 'ca.pem'), '--token', TOKENS.admin);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toContain('revoked by operator:root');
      const refused = await refusal(call(host, 'Whoami', {}));
      expect(refused.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(refused.details).toMatch(/host "web-02" was revoked by operator:root/);
    } finally {
      host.close();
    }
  });
});

describe('alert sources', () => {
  // The HTTP listener serves HTTPS with the controller's certificate (http.tls).
  const post = async (token: string, app: string): Promise<{ status: number; json(): Promise<unknown> }> => {
    const ca = await readFile(join(pki, 'ca.pem'));
    const body = JSON.stringify({ app, reason: 'error rate' });
    const [host, port] = [ctl.http.slice(0, ctl.http.lastIndexOf(':')), Number(ctl.http.slice(ctl.http.lastIndexOf(':') + 1))];
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host, port, path: '/v1/alerts', method: 'POST', ca, servername: 'localhost', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: async () => JSON.parse(Buffer.concat(parts).toString()) }));
        },
      );
      req.once('error', reject);
      req.end(body);
    });
  };

  it('a source token raises alarms only for its listed apps', async () => {
    // "web" exists (pushed above); "api" is refused for the source before the controller looks it up.
    const other = await post(TOKENS.promWeb, 'api');
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: string }).error).toMatch(/alert source "prom-web" may not raise alarms for "api"/);
    const own = await post(TOKENS.promWeb, 'web');
    expect(own.status).toBe(202);
    // An operator token is not an alert source token.
    expect((await post(TOKENS.admin, 'web')).status).toBe(401);
  });
});

function servedSerial(address: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(serial);
    });
    s.once('error', reject);
  });
}

describe('certificates and keys on the controller', () => {
  it('SIGHUP picks up a renewed certificate for new connections', async () => {
    const before = await servedSerial(ctl.grpc);
    const r = await cli('tls', 'cert', 'create', '--server', '--force', '--ca-dir', pki, '--out-dir', pki);
    expect(r.code, r.stdout).toBe(0);
    ctl.child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    let after = before;
    for (let i = 0; i < 100 && after === before && Date.now() < deadline; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await servedSerial(ctl.grpc);
    }
    expect(after).not.toBe(before);
    const x = await import('node:crypto');
    expect(after).toBe(new x.X509Certificate(await readFile(join(pki, 'controller.pem'))).serialNumber);
  });

  it('refuses to start with a TLS key readable by others, naming the file and mode', async () => {
    const key = join(dir, 'loose-key.pem');
    await writeFile(key, await readFile(join(pki, 'controller-key.pem')));
    await chmod(key, 0o644);
    const r = await runControllerToExit([
      '--nats', nats.url, '--data-dir', join(dir, 'data2'), '--controller-key', controllerKey.keyPath, '--trusted-key', release.pubPath,
      '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0',
      '--tls-cert', join(pki, 'controller.pem'), '--tls-key', key, '--tls-ca', join(pki, 'ca.pem'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`tls.key: private key ${key} has mode 0644`);
  });

  it('an agent refuses to start with a certificate that names another host', async () => {
    const r = await run(process.execPath, [
      AGENT_MAIN, '--host-id', 'web-09', '--nats', nats.url, '--controller', ctl.grpc, '--data-dir', join(dir, 'agent-09'),
      '--trusted-key', release.pubPath, '--controller-public-key', controllerKey.pubPath,
    ], {
      timeout: 30_000,
      env: { ...process.env, FLOTILLA_TLS_CA: join(pki, 'ca.pem'), FLOTILLA_TLS_CERT: join(pki, 'host-web-01.pem'), FLOTILLA_TLS_KEY: join(pki, 'host-web-01-key.pem') },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? '' }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('names host:web-01, not host:web-09');
  });

  it('runs open beyond loopback only with --insecure, and says so loudly at start', async () => {
    const open = await ControllerProcess.start({
      natsUrl: nats.url,
      dir: join(dir, 'insecure'),
      controllerKey: controllerKey.keyPath,
      trustedKeys: [release.pubPath],
      grpcListen: '0.0.0.0:0',
      args: ['--insecure'],
    });
    try {
      // The line is logged before the ready file is written; its pipe may deliver it a moment later.
      await waitUntil('the INSECURE warning logged', async () => open.output().includes('INSECURE: --insecure given'), { timeoutMs: 10_000, intervalMs: 50 });
      const c = controllerClients(open.grpc);
      try {
        expect((await call<{ kind: string }>(c, 'Whoami', {})).kind).toBe('open');
      } finally {
        c.close();
      }
    } finally {
      await open.stop();
    }
  });

  it('refuses to listen beyond loopback without TLS unless --insecure', async () => {
    const r = await runControllerToExit([
      '--nats', nats.url, '--data-dir', join(dir, 'data3'), '--controller-key', controllerKey.keyPath, '--trusted-key', release.pubPath,
      '--grpc-listen', '0.0.0.0:0', '--http-listen', '127.0.0.1:0',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refuses to start: grpc\.listen 0\.0\.0\.0:0 is reachable beyond loopback without TLS/);
  });
});
