import { createHash } from 'node:crypto';
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostInfo__Output } from '@flotilla/proto';
import {
  ASSIGNMENT_TYPE,
  loadPrivateKey,
  makeDescriptor,
  parseAssignment,
  signAssignment,
  signDescriptor,
  subjects,
  type Assignment,
  type Signed,
} from '@flotilla/shared';
import { httpGetText } from './controller-process.js';
import { deadlineFlag, waitUntil } from './deadline.js';
import { tempDir } from './agent-process.js';
import { Fleet } from './fleet.js';
import { writeKeyPair, type TestKeyPair } from './keys.js';

// The update protocol against someone who holds a signed assignment, the controller key, or a
// release key: real nats-server, controller, agents and CLI. What the attacker sends is signed
// here with the very keys the fleet trusts, and published on the host's assign subject.

const DAY = 24 * 60 * 60 * 1000;

async function descriptorFor(fleet: Fleet, file: string, version: string, key: TestKeyPair): Promise<Signed> {
  const bytes = await readFile(file);
  return signDescriptor(
    makeDescriptor({ app: 'demo', version, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length }),
    key.signer,
  );
}

/** The agent's accepted seq and epoch, from its state.json. */
async function accepted(fleet: Fleet, i: number): Promise<{ seq: number; epoch: number; assignment: Assignment | null }> {
  const state = JSON.parse(await readFile(join(fleet.agents[i]!.dataDir, 'state.json'), 'utf8')) as {
    acceptedSeq: number;
    acceptedEpoch?: number;
    assignment: Signed | null;
  };
  return { seq: state.acceptedSeq, epoch: state.acceptedEpoch ?? 1, assignment: state.assignment ? parseAssignment(state.assignment.payload) : null };
}

async function hostView(fleet: Fleet, hostId: string): Promise<HostInfo__Output> {
  const h = (await fleet.hosts()).find((x) => x.host_id === hostId);
  if (!h) throw new Error(`controller does not know ${hostId}`);
  return h;
}

function waitForHost(fleet: Fleet, hostId: string, what: string, check: (h: HostInfo__Output) => boolean): Promise<HostInfo__Output> {
  return waitUntil(
    `${hostId}: ${what}`,
    async () => {
      const h = await hostView(fleet, hostId);
      return check(h) ? h : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

describe('freshness, bounds and version floors', () => {
  let fleet: Fleet;
  let nc: NatsConnection;
  let v1: Signed;

  const publish = (hostId: string, signed: Signed) => nc.publish(subjects('flotilla').assign(hostId), JSON.stringify(signed));
  /** An assignment for host i as the controller key would sign it, over the host's accepted one. */
  const forged = async (i: number, over: Partial<Assignment>): Promise<Signed> => {
    const a = await accepted(fleet, i);
    const assignment: Assignment = {
      type: ASSIGNMENT_TYPE,
      hostId: fleet.agents[i]!.hostId,
      epoch: 1,
      seq: a.seq + 1,
      issuedAtMs: Date.now(),
      expiresAtMs: Date.now() + DAY,
      apps: { demo: { version: '1.0.0', release: v1 } },
      ...over,
    };
    return signAssignment(assignment, fleet.controllerKey.signer);
  };

  beforeAll(async () => {
    // Re-signing looks once at start and then not for an hour, so that a stale host stays stale
    // while the test looks at it.
    fleet = await Fleet.startDeployed({
      agents: 2,
      stable: '1.0.0',
      heartbeatInterval: '500ms',
      controllerConfig: 'assignments:\n  refreshInterval: 1h\n',
    });
    nc = await connect({ servers: fleet.nats.url });
    v1 = (await accepted(fleet, 0)).assignment!.apps.demo!.release;
  });

  afterAll(async () => {
    await nc?.close();
    await fleet?.stop();
  });

  it('refuses a year-old assignment: the host says why and nothing moves', async () => {
    const file = await fleet.push('1.1.0');
    const before = await accepted(fleet, 0);
    const yearOld = await forged(0, {
      issuedAtMs: Date.now() - 366 * DAY,
      expiresAtMs: Date.now() - 365 * DAY,
      apps: { demo: { version: '1.1.0', release: await descriptorFor(fleet, file, '1.1.0', fleet.releaseKey) } },
    });
    publish('host-1', yearOld);
    const h = await waitForHost(fleet, 'host-1', 'reports the refusal', (x) => /expired/.test(x.trust_error));
    expect(h.state).toBe('up');
    expect((await accepted(fleet, 0)).seq).toBe(before.seq);
    expect((await fleet.answer(0))?.version).toBe('1.0.0');
  });

  it('refuses seq 2^53-1 and still takes the next normal assignment', async () => {
    const before = await accepted(fleet, 0);
    publish('host-1', await forged(0, { seq: Number.MAX_SAFE_INTEGER }));
    await waitForHost(fleet, 'host-1', 'reports the seq jump', (x) => /jumps more than/.test(x.trust_error));
    expect((await accepted(fleet, 0)).seq).toBe(before.seq);
    publish('host-1', await forged(0, {}));
    // (The controller then puts its own assignment above it: the seq may move on again.)
    await waitUntil('host-1 to accept the next seq', async () => (await accepted(fleet, 0)).seq >= before.seq + 1, { timeoutMs: 30_000 });
    await waitForHost(fleet, 'host-1', 'clears the refusal', (x) => x.trust_error === '');
  });

  it('refuses an expired assignment replayed to a host whose state.json was lost', async () => {
    const file = await fleet.push('1.3.0');
    const agent = fleet.agents[1]!;
    await agent.process!.stop();
    await rm(join(agent.dataDir, 'state.json'));
    // Held back while it was fresh, replayed once it has expired: the window freshness bounds.
    const captured = signAssignment(
      {
        type: ASSIGNMENT_TYPE,
        hostId: 'host-2',
        epoch: 1,
        seq: 1,
        issuedAtMs: Date.now() - 2 * DAY,
        expiresAtMs: Date.now() - DAY,
        apps: { demo: { version: '1.3.0', release: await descriptorFor(fleet, file, '1.3.0', fleet.releaseKey) } },
      },
      fleet.controllerKey.signer,
    );
    fleet.startAgent(1);
    // Its sync brings the controller's current assignment back first (a new state.json).
    await waitUntil('host-2 to take the controller assignment again', async () => {
      const a = await accepted(fleet, 1).catch(() => null);
      return a?.assignment?.apps.demo?.version === '1.0.0';
    }, { timeoutMs: 30_000 });
    publish('host-2', captured);
    await waitForHost(fleet, 'host-2', 'reports the expired replay', (x) => /expired/.test(x.trust_error));
    expect((await accepted(fleet, 1)).assignment?.apps.demo?.version).toBe('1.0.0');
    expect((await fleet.answer(1))?.version).toBe('1.0.0');
  });

  it('obeys a signed app policy: the controller will not assign a revoked version and the agent refuses it from a valid assignment', async () => {
    const file = await fleet.push('1.4.0');
    const policyFile = join(fleet.dir, 'demo-policy.json');
    await fleet.run(['policy', 'sign', 'demo', '--revoke', '1.4.0', '--key', fleet.releaseKey.keyPath, '--out', policyFile]);
    await mkdir(join(fleet.controller.dataDir, 'trust'), { recursive: true });
    await writeFile(join(fleet.controller.dataDir, 'trust', 'demo-policy.json'), await readFile(policyFile));
    await fleet.controller.stop();
    await fleet.restartController();
    // The controller re-signs every assignment with the policy in it; the hosts keep it.
    await waitUntil('both hosts to hold the policy', async () => {
      for (const a of fleet.agents) {
        const trust = JSON.parse(await readFile(join(a.dataDir, 'trust.json'), 'utf8').catch(() => '{}')) as { policies?: Record<string, unknown> };
        if (!trust.policies?.demo) return false;
      }
      return true;
    }, { timeoutMs: 60_000 });

    const deploy = await fleet.cli(['deploy', 'demo@1.4.0', '--wait-timeout', deadlineFlag(30)]);
    expect(deploy.code).not.toBe(0);
    expect(`${deploy.stdout}${deploy.stderr}`).toMatch(/revoked/);

    // Whoever holds the controller key signs it anyway, policy left out: the host still refuses.
    const before = await accepted(fleet, 0);
    publish('host-1', await forged(0, { apps: { demo: { version: '1.4.0', release: await descriptorFor(fleet, file, '1.4.0', fleet.releaseKey) } } }));
    await waitForHost(fleet, 'host-1', 'reports the revoked version', (x) => /revoked/.test(x.trust_error));
    expect((await accepted(fleet, 0)).seq).toBe(before.seq);
    expect((await fleet.answer(0))?.version).toBe('1.0.0');
  });

  it('shows a host holding only an expired assignment as stale, in `flotilla hosts` and the metric, and installs nothing from it', async () => {
    const file = await fleet.push('1.2.0');
    const agent = fleet.agents[0]!;
    const seq = Number((await hostView(fleet, 'host-1')).assignment_seq);
    await agent.process!.stop();
    // The host accepted this one while it was fresh (at the controller's own seq, so the
    // controller sees nothing to correct) and has heard nothing newer since.
    const statePath = join(agent.dataDir, 'state.json');
    const state = JSON.parse(await readFile(statePath, 'utf8')) as Record<string, unknown>;
    const expired = signAssignment(
      {
        type: ASSIGNMENT_TYPE,
        hostId: 'host-1',
        epoch: 1,
        seq,
        issuedAtMs: Date.now() - 2 * DAY,
        expiresAtMs: Date.now() - DAY,
        apps: { demo: { version: '1.2.0', release: await descriptorFor(fleet, file, '1.2.0', fleet.releaseKey) } },
      },
      fleet.controllerKey.signer,
    );
    await writeFile(statePath, JSON.stringify({ ...state, acceptedSeq: seq, acceptedEpoch: 1, assignment: expired }));
    fleet.startAgent(0);
    const h = await waitForHost(fleet, 'host-1', 'stale', (x) => x.stale && x.state === 'up');
    const cli = await fleet.run(['hosts']);
    expect(cli.stdout).toMatch(/host-1\s+up,stale/);
    const metrics = await httpGetText(fleet.controller.http, '/metrics');
    expect(metrics.body).toMatch(/^flotilla_hosts_stale 1$/m);
    // What ran keeps running; nothing of 1.2.0 was started.
    expect((await fleet.answer(0))?.version).toBe('1.0.0');
    const demo = h.apps.find((a) => a.app === 'demo');
    expect(demo?.active_version).toBe('1.0.0');
    expect(demo?.install_version).not.toBe('1.2.0');
  });
});

describe('controller key rotation and release key revocation', () => {
  let fleet: Fleet;
  let second: TestKeyPair;
  const keyDirs: string[] = [];

  beforeAll(async () => {
    const keyDir = await tempDir('second-key');
    keyDirs.push(keyDir);
    second = await writeKeyPair(keyDir, 'release-2');
    fleet = await Fleet.startDeployed({
      agents: 2,
      stable: '1.0.0',
      heartbeatInterval: '500ms',
      controllerArgs: ['--trusted-key', second.pubPath],
      agentArgs: ['--trusted-key', second.pubPath],
    });
  });

  afterAll(async () => {
    await fleet?.stop();
    await Promise.all(keyDirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('rotates the controller key with one host online and one offline; neither falls off', async () => {
    await fleet.agents[1]!.process!.stop();
    await fleet.controller.stop();
    const rotate = await fleet.run(['keys', 'rotate', 'controller', '--key', fleet.controllerKey.keyPath]);
    expect(rotate.stdout).toMatch(/rotated to epoch 2/);
    await fleet.restartController();

    const online = await waitForHost(fleet, 'host-1', 'takes epoch 2', (x) => x.key_epoch === 2 && x.trust_error === '');
    expect(online.controller_key_epoch).toBe(2);
    await waitUntil('host-1 to accept an epoch-2 assignment', async () => (await accepted(fleet, 0)).epoch === 2, { timeoutMs: 30_000 });
    // Not heard since the rotation: nothing says it has the new key.
    expect((await hostView(fleet, 'host-2')).key_epoch).not.toBe(2);

    // The offline host comes back and catches up from the chain the controller serves.
    fleet.startAgent(1);
    await waitForHost(fleet, 'host-2', 'takes epoch 2 on its return', (x) => x.state === 'up' && x.key_epoch === 2 && x.trust_error === '');
    await waitUntil('host-2 to accept an epoch-2 assignment', async () => (await accepted(fleet, 1)).epoch === 2, { timeoutMs: 30_000 });

    // And both take the next release, signed in the new epoch.
    await fleet.push('1.1.0');
    await fleet.run(['deploy', 'demo@1.1.0', '--wait-timeout', deadlineFlag(60)]);
    expect(await fleet.answers()).toEqual(['1.1.0', '1.1.0']);
  });

  it('refuses the artifacts of a revoked release key, on the controller and on the hosts; what runs keeps running', async () => {
    const revocation = join(fleet.dir, 'revoke-release-1.json');
    await fleet.run(['keys', 'revoke', 'release', fleet.releaseKey.keyId, '--signing-key', second.keyPath, '--out', revocation, '--reason', 'leaked']);
    await mkdir(join(fleet.controller.dataDir, 'trust'), { recursive: true });
    await writeFile(join(fleet.controller.dataDir, 'trust', 'revoke-release-1.json'), await readFile(revocation));
    await fleet.controller.stop();
    await fleet.restartController();
    await waitUntil('both hosts to hold the revocation', async () => {
      for (const a of fleet.agents) {
        const trust = JSON.parse(await readFile(join(a.dataDir, 'trust.json'), 'utf8').catch(() => '{}')) as { revocations?: unknown[] };
        if ((trust.revocations ?? []).length === 0) return false;
      }
      return true;
    }, { timeoutMs: 60_000 });

    // The controller refuses the upload.
    const file = await fleet.release('1.2.0');
    const push = await fleet.cli(['artifact', 'push', file, '--app', 'demo', '--version', '1.2.0', '--key', fleet.releaseKey.keyPath]);
    expect(push.code).not.toBe(0);
    expect(`${push.stdout}${push.stderr}`).toMatch(/not trusted/);

    // A host refuses it too, from an assignment the controller key signed.
    const nc = await connect({ servers: fleet.nats.url });
    try {
      const a = await accepted(fleet, 0);
      const signed = signAssignment(
        {
          type: ASSIGNMENT_TYPE,
          hostId: 'host-1',
          epoch: a.epoch,
          seq: a.seq + 1,
          issuedAtMs: Date.now(),
          expiresAtMs: Date.now() + DAY,
          apps: { demo: { version: '1.2.0', release: await descriptorFor(fleet, file, '1.2.0', fleet.releaseKey) } },
        },
        // The rotated key: the one the controller signs with now.
        loadPrivateKey(fleet.controllerKey.keyPath),
      );
      const revokedKey = fleet.releaseKey.keyId;
      const refusal = fleet.agents[0]!.process!.waitForLog((line) => {
        const text = JSON.stringify(line);
        return text.includes(revokedKey) && text.includes('not trusted');
      });
      nc.publish(subjects('flotilla').assign('host-1'), JSON.stringify(signed));
      // (The controller then puts its own assignment back above the forged one.)
      expect(JSON.stringify(await refusal)).toMatch(/1\.2\.0/);
    } finally {
      await nc.close();
    }
    // Releases installed before keep running.
    expect((await fleet.answer(0))?.version).toBe('1.1.0');
    expect((await fleet.answer(1))?.version).toBe('1.1.0');
  });
  it('a controller key swapped without a rotation: hosts refuse its assignments and say so, and the controller shows it', async () => {
    await fleet.controller.stop();
    const strayDir = await tempDir('stray-key');
    keyDirs.push(strayDir);
    const stray = await writeKeyPair(strayDir, 'controller');
    await writeFile(fleet.controllerKey.keyPath, await readFile(stray.keyPath), { mode: 0o600 });
    await rm(`${fleet.controllerKey.keyPath}.chain.json`);
    await fleet.restartController();
    const file = await fleet.release('1.3.0');
    await fleet.run(['artifact', 'push', file, '--app', 'demo', '--version', '1.3.0', '--key', second.keyPath]);
    const deploy = await fleet.cli(['deploy', 'demo@1.3.0', '--wait-timeout', deadlineFlag(5)]);
    expect(deploy.code).not.toBe(0);
    for (const hostId of ['host-1', 'host-2']) {
      const h = await waitForHost(fleet, hostId, 'reports the untrusted key', (x) => /not trusted/.test(x.trust_error));
      expect(h.state).toBe('up');
    }
    const cli = await fleet.run(['hosts']);
    expect(cli.stdout).toMatch(/host-1\s+up,refusing/);
    expect(cli.stdout).toMatch(new RegExp(`host-1: refuses: .*${stray.keyId}.*not trusted`));
    expect((await httpGetText(fleet.controller.http, '/metrics')).body).toMatch(/^flotilla_hosts_refusing_assignments 2$/m);
    expect(await fleet.answers()).toEqual(['1.1.0', '1.1.0']);
  });
});
