// A rollout step over hosts of two agent versions, through a real controller and nats-server: the
// hosts that announce proofs get the step's one signature with their proof, an agent of the
// previous version (no announce of proofs) gets its own signature, and each verifies as its agent
// would. Hostile variants of the proof form are unit-tested in shared/src/assignment-proof.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployResponse__Output, ListHostsResponse__Output } from '@flotilla/proto';
import { parseAssignment, signedAssignmentSchema, verifyAssignment, verifyPayload, type SignedAssignment } from '@flotilla/shared';
import { FakeHost, releaseTarball, signArtifact, unaryCall, uploadArtifact } from './controller-process.js';
import { ControllerFixture } from './controller-fixture.js';
import { waitUntil } from './deadline.js';

let fixture: ControllerFixture;
let upgraded: FakeHost[];
let previous: FakeHost;

beforeAll(async () => {
  fixture = await ControllerFixture.start({ name: 'assignment-forms' });
  const bytes = await releaseTarball(fixture.dir, { files: { VERSION: 'web 1.0.0' } });
  await uploadArtifact(fixture.clients.artifacts, signArtifact(bytes, 'web', '1.0.0', fixture.release.signer), bytes);
  upgraded = await Promise.all(['new-1', 'new-2', 'new-3'].map((id) => FakeHost.connect(fixture.nats.url, id)));
  previous = await FakeHost.connect(fixture.nats.url, 'old-1');
  for (const h of upgraded) h.announce({ assignmentProofs: true });
  previous.announce();
  for (const h of [...upgraded, previous]) h.startHeartbeats();
  await waitUntil('four hosts registered', async () => {
    const r = await unaryCall<{ selector: string }, ListHostsResponse__Output>(fixture.clients.control, 'ListHosts', { selector: '' });
    return r.hosts.length === 4;
  });
});

afterAll(async () => {
  for (const h of [...(upgraded ?? []), previous]) await h?.close().catch(() => undefined);
  await fixture?.stop();
});

const check = (hostId: string) => ({
  hostId,
  trust: { epoch: 1, keys: [fixture.controllerKey.publicKey] },
  accepted: { epoch: 1, seq: 0 },
  nowMs: Date.now(),
});

const first = (h: FakeHost) => waitUntil(`${h.hostId} to receive its assignment`, () => h.assignments[0]);

describe('assignment forms in one step', () => {
  it('step-signs the hosts that announced proofs and signs the previous agent singly', async () => {
    const r = await unaryCall<object, DeployResponse__Output>(fixture.clients.control, 'Deploy', { app: 'web', version: '1.0.0', selector: '' });
    expect(r.assigned).toHaveLength(4);
    const stepSigned: SignedAssignment[] = [];
    for (const h of upgraded) {
      const signed = await first(h);
      expect(signed.proof).toBeDefined();
      expect(verifyAssignment(signed, check(h.hostId)).apps.web?.version).toBe('1.0.0');
      stepSigned.push(signed);
    }
    expect(new Set(stepSigned.map((s) => s.signature)).size).toBe(1);
    // One host's proof is no good to another.
    expect(() => verifyAssignment(stepSigned[0] as SignedAssignment, check('new-2'))).toThrow(/addressed to host "new-1"/);

    const old = await first(previous);
    // What the previous agent checks: its strict three-field shape and a signature over the payload.
    expect(Object.keys(old).sort()).toEqual(['keyId', 'payload', 'signature']);
    expect(() => verifyPayload(old, [fixture.controllerKey.publicKey], 'assignment')).not.toThrow();
    expect(parseAssignment(old.payload).hostId).toBe('old-1');
    // Its sync answer is of the same form.
    const reply = await previous.sync();
    expect(reply.assignment?.proof).toBeUndefined();
    expect(signedAssignmentSchema.parse(reply.assignment)).toEqual(old);
  });
});
