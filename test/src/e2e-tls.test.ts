import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerClients, downloadArtifact, waitUntil } from './controller-process.js';
import { Fleet } from './fleet.js';

// Mutual TLS end to end: agents download with their own host certificates, the CLI acts as an
// operator by certificate, and one host's certificate cannot fetch what only another was given.

describe('a fleet over mutual TLS', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: 2, heartbeatInterval: '500ms', tls: true, labels: (i) => [`role=${i === 0 ? 'web' : 'db'}`] });
    await waitUntil('two hosts up', async () => {
      const r = await fleet.cli(['hosts', '--json']);
      if (r.code !== 0) return false;
      return (JSON.parse(r.stdout) as { hosts: Array<{ state: string }> }).hosts.filter((h) => h.state === 'up').length === 2;
    }, { timeoutMs: 30_000, intervalMs: 200 });
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('deploys to one host, which downloads with its certificate; the other host may not fetch it', async () => {
    const push = await fleet.cli(['artifact', 'push', await fleet.release('1.0.0'), '--app', 'demo', '--version', '1.0.0', '--key', fleet.releaseKey.keyPath]);
    expect(push.code, push.stderr).toBe(0);
    const sha256 = /[0-9a-f]{64}/.exec(push.stdout)?.[0] as string;
    const deploy = await fleet.cli(['deploy', 'demo@1.0.0', '--selector', 'role=web', '--wait-timeout', '60s']);
    expect(deploy.code, `${deploy.stdout}${deploy.stderr}\n${fleet.diagnostics()}`).toBe(0);
    expect((await fleet.answer(0))?.version).toBe('1.0.0');

    const pki = fleet.pki!;
    const asHost = async (id: string) =>
      controllerClients(
        fleet.controller.grpc,
        grpc.credentials.createSsl(await readFile(pki.ca), await readFile(join(pki.dir, `host-${id}-key.pem`)), await readFile(join(pki.dir, `host-${id}.pem`))),
      );
    const web = await asHost('host-1');
    const db = await asHost('host-2');
    try {
      expect((await downloadArtifact(web.artifacts, sha256)).data.length).toBeGreaterThan(0);
      const refused = await downloadArtifact(db.artifacts, sha256).then(
        () => undefined,
        (err: grpc.ServiceError) => err,
      );
      expect(refused?.code).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      web.close();
      db.close();
    }

    const events = await fleet.cli(['rollout', 'list', '--app', 'demo', '--json']);
    expect(events.code, events.stderr).toBe(0);
    // The rollout records the operator the certificate names, not a name the CLI sent.
    expect(events.stdout).toContain('"created_by": "demo"');
  });
});
