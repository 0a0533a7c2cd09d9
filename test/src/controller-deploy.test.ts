import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  DeployResponse__Output,
  GetStatusResponse__Output,
  ListArtifactsResponse__Output,
  ListHostsResponse__Output,
} from '@flotilla/proto';
import { parseAssignment, verifyAssignment, verifyDescriptor, type Assignment, type AssignmentCheck, type SignedAssignment } from '@flotilla/shared';
import {
  ControllerProcess,
  FakeHost,
  downloadArtifact,
  releaseTarball,
  sha256Hex,
  signArtifact,
  refusal,
  unaryCall,
  uploadArtifact,
  waitUntil,
  type ControllerClients,
  type TestKeyPair,
} from './controller-process.js';
import { ControllerFixture } from './controller-fixture.js';
import type { NatsServer } from './nats-server.js';

let fixture: ControllerFixture;
let nats: NatsServer;
let dir: string;
let controller: ControllerProcess;
let clients: ControllerClients;
let release: TestKeyPair;
let controllerKey: TestKeyPair;
let prod1: FakeHost;
let prod2: FakeHost;
let staging: FakeHost;
const webV1: { bytes: Buffer } = { bytes: Buffer.alloc(0) };

/** After a stop: the controller again on the same NATS and data dir. */
async function restartController(): Promise<void> {
  controller = await fixture.restartController();
  clients = fixture.clients;
}

beforeAll(async () => {
  fixture = await ControllerFixture.start({ name: 'controller-deploy' });
  ({ nats, dir, controller, clients, release, controllerKey } = fixture);

  for (const [app, version] of [
    ['web', '1.0.0'],
    ['web', '2.0.0'],
    ['api', '1'],
  ] as const) {
    const bytes = await releaseTarball(dir, { files: { 'VERSION': `${app} ${version}` } });
    if (app === 'web' && version === '1.0.0') webV1.bytes = bytes;
    await uploadArtifact(clients.artifacts, signArtifact(bytes, app, version, release.signer), bytes);
  }

  prod1 = await FakeHost.connect(nats.url, 'prod-1', { labels: { env: 'prod' } });
  prod2 = await FakeHost.connect(nats.url, 'prod-2', { labels: { env: 'prod' } });
  staging = await FakeHost.connect(nats.url, 'staging-1', { labels: { env: 'staging' } });
  for (const h of [prod1, prod2, staging]) {
    h.announce();
    h.startHeartbeats();
  }
  await waitUntil('three hosts registered', async () => {
    const r = await unaryCall<{ selector: string }, ListHostsResponse__Output>(clients.control, 'ListHosts', { selector: '' });
    return r.hosts.length === 3;
  });
});

afterAll(async () => {
  for (const h of [prod1, prod2, staging]) await h?.close().catch(() => undefined);
  await fixture?.stop();
});

/**
 * A deploy is a rollout, which ends once every host runs the version healthy. These fake hosts
 * never run anything, so each deploy's rollout is ended here (abort, no revert: the hosts keep
 * what they were assigned) to let the next deploy of the app start; this file is about the
 * assignments, not the rollouts.
 */
async function deploy(app: string, version: string, selector = ''): Promise<DeployResponse__Output> {
  const response = await startDeploy(app, version, selector);
  await unaryCall(clients.control, 'RolloutCommand', { id: response.rollout_id, command: 'abort', no_revert: true, actor: 'test' });
  return response;
}

const startDeploy = (app: string, version: string, selector = '') =>
  unaryCall<{ app: string; version: string; selector: string }, DeployResponse__Output>(clients.control, 'Deploy', {
    app,
    version,
    selector,
  });

/** What an agent of `hostId` that accepted `seq` checks an assignment against. */
function agentCheck(hostId: string, seq: number): AssignmentCheck {
  return { hostId, trust: { epoch: 1, keys: [controllerKey.publicKey] }, accepted: { epoch: 1, seq }, nowMs: Date.now() };
}

/** The assignment with this seq once the host has received it, verified as an agent would. */
async function received(host: FakeHost, seq: number): Promise<Assignment> {
  const signed = await waitUntil(`${host.hostId} to receive seq ${seq}`, () =>
    host.assignments.find((a) => parseAssignment(a.payload).seq === seq),
  );
  return verifyAssignment(signed, agentCheck(host.hostId, seq - 1));
}

describe('deploy', () => {
  it('assigns a version to the selected hosts with signed, growing assignments', async () => {
    const first = await deploy('web', '1.0.0', 'env=prod');
    expect(first.assigned.map((a) => [a.host_id, a.seq])).toEqual([
      ['prod-1', '1'],
      ['prod-2', '1'],
    ]);
    const a1 = await received(prod1, 1);
    expect(a1.apps.web?.version).toBe('1.0.0');
    // The release descriptor inside verifies with the release key and names the bytes pushed.
    expect(verifyDescriptor(a1.apps.web!.release, [release.publicKey], { app: 'web', version: '1.0.0' }).sha256).toBe(
      sha256Hex(webV1.bytes),
    );
    await received(prod2, 1);

    const second = await deploy('api', '1', 'env=prod');
    expect(second.assigned.map((a) => a.seq)).toEqual(['2', '2']);
    const third = await deploy('web', '2.0.0', 'env=prod');
    expect(third.assigned.map((a) => a.seq)).toEqual(['3', '3']);
    const a3 = await received(prod1, 3);
    // The whole desired state: the other app stays.
    expect(Object.fromEntries(Object.entries(a3.apps).map(([k, v]) => [k, v.version]))).toEqual({ api: '1', web: '2.0.0' });
    expect(staging.assignments).toEqual([]);
  });

  it('answers sync with the current assignment, or none', async () => {
    const reply = await prod1.sync();
    expect(reply.type).toBe('sync-reply');
    expect(verifyAssignment(reply.assignment as SignedAssignment, agentCheck('prod-1', 0)).seq).toBe(3);
    expect((await staging.sync()).assignment).toBeNull();
  });

  it('re-sends the assignment to a host whose heartbeats show it behind', async () => {
    const before = prod2.assignments.length;
    prod2.acceptedSeq = 1;
    await waitUntil('a re-sent assignment', () => prod2.assignments.length > before);
    expect(parseAssignment(prod2.assignments.at(-1)!.payload).seq).toBe(3);
    prod2.acceptedSeq = 3;
  });

  it('refuses unknown apps and versions, no matching host, and bad names', async () => {
    const version = await refusal(deploy('web', '9.9.9'));
    expect(version.code).toBe(status.NOT_FOUND);
    expect(version.details).toMatch(/app "web" has no artifact for version "9\.9\.9" \(known versions: 1\.0\.0, 2\.0\.0\)/);
    const app = await refusal(deploy('nope', '1'));
    expect(app.code).toBe(status.NOT_FOUND);
    expect(app.details).toMatch(/app "nope" has no artifacts/);
    const nobody = await refusal(deploy('web', '1.0.0', 'env=nowhere'));
    expect(nobody.code).toBe(status.FAILED_PRECONDITION);
    expect(nobody.details).toMatch(/no host matches selector "env=nowhere"/);
    const bad = await refusal(deploy('Bad Name', '1'));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
  });

  it('refuses a second deploy of an app while its rollout runs, naming that rollout', async () => {
    const first = await startDeploy('api', '1', 'env=prod');
    const second = await refusal(startDeploy('api', '1', 'env=prod'));
    expect(second.code).toBe(status.FAILED_PRECONDITION);
    expect(second.details).toContain(`rollout ${first.rollout_id} of api is still running`);
    await unaryCall(clients.control, 'RolloutCommand', { id: first.rollout_id, command: 'abort', no_revert: true, actor: 'test' });
  });

  it('reports status per host and per app', async () => {
    prod1.apps = [
      {
        app: 'web',
        desiredVersion: '2.0.0',
        activeVersion: '2.0.0',
        processState: 'running',
        pid: 4242,
        restarts: 0,
        health: 'healthy',
        healthSinceMs: Date.now(),
        installPhase: 'done',
        installVersion: '2.0.0',
        error: null,
        updatedAtMs: Date.now(),
      },
    ];
    const status1 = await waitUntil('prod-1 reporting web', async () => {
      const r = await unaryCall<{ app: string }, GetStatusResponse__Output>(clients.control, 'GetStatus', { app: 'web' });
      return r.hosts.find((h) => h.host_id === 'prod-1')?.apps[0]?.process_state === 'running' ? r : undefined;
    });
    expect(status1.hosts.map((h) => h.host_id)).toEqual(['prod-1', 'prod-2']);
    const p1 = status1.hosts.find((h) => h.host_id === 'prod-1');
    expect(p1?.apps).toEqual([expect.objectContaining({ app: 'web', active_version: '2.0.0', health: 'healthy', pid: 4242 })]);
    expect(p1?.assignment_seq).toBe('3');
    // prod-2 has not reported web yet: its desired version comes from the assignment.
    expect(status1.hosts.find((h) => h.host_id === 'prod-2')?.apps).toEqual([
      expect.objectContaining({ app: 'web', desired_version: '2.0.0', active_version: '' }),
    ]);
    expect(status1.apps).toEqual([expect.objectContaining({ name: 'web', stable_version: '', versions: ['1.0.0', '2.0.0'] })]);

    const all = await unaryCall<{ app: string }, GetStatusResponse__Output>(clients.control, 'GetStatus', { app: '' });
    expect(all.apps.map((a) => a.name)).toEqual(['api', 'web']);
    expect(all.hosts).toHaveLength(3);
    const unknown = await refusal(unaryCall(clients.control, 'GetStatus', { app: 'nope' }));
    expect(unknown.code).toBe(status.NOT_FOUND);
  });
});

describe('controller restart', () => {
  it('keeps artifacts, hosts and assignments, and seqs keep growing', async () => {
    staging.stopHeartbeats();
    clients.close();
    const exit = await controller.stop('SIGTERM');
    expect(exit.code).toBe(0);
    await restartController();

    const artifacts = await unaryCall<{ app: string }, ListArtifactsResponse__Output>(clients.control, 'ListArtifacts', { app: '' });
    expect(artifacts.artifacts.map((a) => `${a.app}@${a.version}`)).toEqual(['api@1', 'web@1.0.0', 'web@2.0.0']);
    const bytes = await downloadArtifact(clients.artifacts, sha256Hex(webV1.bytes));
    expect(bytes.data.equals(webV1.bytes)).toBe(true);

    expect(verifyAssignment((await prod1.sync()).assignment as SignedAssignment, agentCheck('prod-1', 2)).seq).toBe(3);
    const again = await deploy('web', '1.0.0', 'env=prod');
    expect(again.assigned.map((a) => a.seq)).toEqual(['4', '4']);
    const a4 = await received(prod1, 4);
    expect(a4.apps.web?.version).toBe('1.0.0');
    expect(a4.apps.api?.version).toBe('1');

    // staging-1 was up in KV but never heartbeats to this controller: it goes down by the same rule.
    await waitUntil('staging-1 down after the restart', async () => {
      const r = await unaryCall<{ selector: string }, ListHostsResponse__Output>(clients.control, 'ListHosts', { selector: '' });
      return r.hosts.find((h) => h.host_id === 'staging-1')?.state === 'down';
    });
    const hosts = await unaryCall<{ selector: string }, ListHostsResponse__Output>(clients.control, 'ListHosts', { selector: 'env=prod' });
    expect(hosts.hosts.map((h) => [h.host_id, h.state])).toEqual([
      ['prod-1', 'up'],
      ['prod-2', 'up'],
    ]);
  });
});
