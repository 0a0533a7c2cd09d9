import { describe, expect, it } from 'vitest';
import { ASSIGNMENT_TYPE, signAssignment, signedAssignmentSchema, verifyAssignment, type Assignment, type SignedAssignment } from './assignment.js';
import { signAssignmentTree } from './assignment-proof.js';
import { canonicalJson } from './canonical.js';
import { SignatureError, StaleAssignmentError } from './errors.js';
import { generateKeyPairPem, parsePrivateKey, parsePublicKey } from './keys.js';
import { signPayload, verifyPayload } from './signing.js';

const pem = generateKeyPairPem();
const signer = parsePrivateKey(pem.privateKeyPem, 'c.key');
const trusted = parsePublicKey(pem.publicKeyPem, 'c.pub');
const DAY = 24 * 60 * 60 * 1000;
const NOW = 1_800_000_000_000;
const release = { payload: '{}', keyId: 'k', signature: 's' };

const assignment = (hostId: string, seq: number, over: Partial<Assignment> = {}): Assignment => ({
  type: ASSIGNMENT_TYPE,
  hostId,
  epoch: 1,
  seq,
  issuedAtMs: NOW - 1000,
  expiresAtMs: NOW + DAY,
  apps: { web: { version: '2.0.0', release, stableVersion: '1.0.0' } },
  ...over,
});

/** A step of `n` hosts signed once; host i's assignment has seq `seq`. */
function step(n: number, seq: number, over: Partial<Assignment> = {}): SignedAssignment[] {
  const payloads = Array.from({ length: n }, (_, i) => canonicalJson(assignment(`h${i}`, seq, over)));
  return signAssignmentTree(payloads, signer).map(({ signed, proof }) => ({ ...signed, proof }));
}

const check = (hostId: string, acceptedSeq: number, nowMs = NOW) => ({
  hostId,
  trust: { epoch: 1, keys: [trusted] },
  accepted: { epoch: 1, seq: acceptedSeq },
  nowMs,
});

describe('assignments signed by a step root', () => {
  it('verifies every host of steps of every size against one signature', () => {
    for (const n of [1, 2, 3, 5, 8, 13, 100]) {
      const signed = step(n, 4);
      expect(new Set(signed.map((s) => s.signature)).size).toBe(1);
      signed.forEach((s, i) => expect(verifyAssignment(s, check(`h${i}`, 3)).hostId).toBe(`h${i}`));
    }
  });

  it('travels and is stored in the shape the schema takes', () => {
    const [signed] = step(3, 1);
    expect(signedAssignmentSchema.parse(JSON.parse(JSON.stringify(signed)))).toEqual(signed);
  });

  it('refuses another host its proof: the assignment names its own host', () => {
    const signed = step(4, 2);
    expect(() => verifyAssignment(signed[1] as SignedAssignment, check('h0', 1))).toThrow(/addressed to host "h1", not "h0"/);
  });

  it('refuses a payload swapped for another host of the step under the first one\'s proof', () => {
    const signed = step(4, 2);
    const swapped = { ...(signed[0] as SignedAssignment), payload: (signed[1] as SignedAssignment).payload };
    expect(() => verifyAssignment(swapped, check('h1', 1))).toThrow(/does not lead to the signed root/);
  });

  it('refuses a payload edited after signing (a raised seq)', () => {
    const [signed] = step(4, 2) as [SignedAssignment];
    const edited = { ...signed, payload: signed.payload.replace('"seq":2', '"seq":99') };
    expect(() => verifyAssignment(edited, check('h0', 1))).toThrow(SignatureError);
  });

  it('refuses a tampered root, path, index or signature', () => {
    const [signed] = step(5, 2) as [SignedAssignment];
    const proof = signed.proof!;
    const flip = (b64: string) => Buffer.from(Buffer.from(b64, 'base64').map((x, i) => (i === 0 ? x ^ 1 : x))).toString('base64');
    const otherRoot = proof.root.replace(/"root":"([^"]+)"/, (_m, r: string) => `"root":"${flip(r)}"`);
    const cases: SignedAssignment[] = [
      { ...signed, proof: { ...proof, root: otherRoot } },
      { ...signed, proof: { ...proof, path: [flip(proof.path[0] as string), ...proof.path.slice(1)] } },
      { ...signed, proof: { ...proof, path: proof.path.slice(1) } },
      { ...signed, proof: { ...proof, path: [...proof.path, proof.path[0] as string] } },
      { ...signed, proof: { ...proof, index: 1 } },
      { ...signed, proof: { ...proof, index: 5 } },
      { ...signed, signature: signAssignment(assignment('h0', 2), signer).signature },
    ];
    for (const c of cases) expect(() => verifyAssignment(c, check('h0', 1))).toThrow(SignatureError);
  });

  it('refuses a root signed by a key it does not trust', () => {
    const other = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'x.key');
    const [{ signed, proof }] = signAssignmentTree([canonicalJson(assignment('h0', 2))], other) as [ReturnType<typeof signAssignmentTree>[number]];
    expect(() => verifyAssignment({ ...signed, proof }, check('h0', 1))).toThrow(/not trusted/);
  });

  it('does not take another signed document for a root: a singly signed assignment as the "root" is refused', () => {
    const single = signAssignment(assignment('h9', 7), signer);
    const [signed] = step(2, 2) as [SignedAssignment];
    const forged: SignedAssignment = { ...signed, signature: single.signature, proof: { root: single.payload, index: 0, path: [] } };
    expect(() => verifyAssignment(forged, check('h0', 1))).toThrow(/not a root statement/);
  });

  it('ignores a replayed step and refuses an expired one, as for a singly signed assignment', () => {
    const [old] = step(3, 5) as [SignedAssignment];
    expect(() => verifyAssignment(old, check('h0', 5))).toThrow(StaleAssignmentError);
    expect(() => verifyAssignment(old, check('h0', 9))).toThrow(/not above the accepted/);
    const [expired] = step(3, 6, { expiresAtMs: NOW - 1 }) as [SignedAssignment];
    expect(() => verifyAssignment(expired, check('h0', 5))).toThrow(/expired/);
  });

  it('is refused by an agent of the previous version, which checks the signature over the payload', () => {
    // The previous agent's check: a strict {payload, keyId, signature} schema (an extra field
    // is malformed) and the signature over the payload itself. Either way the host keeps what it
    // runs; the controller sends such a host its own signature (it never announced proofs).
    const [signed] = step(3, 2) as [SignedAssignment];
    const { proof: _proof, ...previousShape } = signed;
    expect(() => verifyPayload(previousShape, [trusted], 'assignment')).toThrow(/does not verify/);
    expect(signPayload(signed.payload, signer).signature).not.toBe(signed.signature);
  });
});
