import { describe, expect, it } from 'vitest';
import { ASSIGNMENT_TYPE, signAssignment, verifyAssignment, type Assignment } from './assignment.js';
import { StaleAssignmentError } from './errors.js';
import { generateKeyPairPem, parsePrivateKey, parsePublicKey } from './keys.js';

function keys() {
  const pem = generateKeyPairPem();
  return { signer: parsePrivateKey(pem.privateKeyPem, 'c.key'), trusted: parsePublicKey(pem.publicKeyPem, 'c.pub') };
}

const release = { payload: '{}', keyId: 'k', signature: 's' };
const assignment = (seq: number, hostId = 'web-01'): Assignment => ({
  type: ASSIGNMENT_TYPE,
  hostId,
  seq,
  issuedAtMs: 1,
  apps: { web: { version: '1.0.0', release, stableVersion: '0.9.0' } },
});

describe('assignments', () => {
  it('verifies an assignment above the accepted seq', () => {
    const { signer, trusted } = keys();
    const a = verifyAssignment(signAssignment(assignment(5), signer), [trusted], 'web-01', 4);
    expect(a.seq).toBe(5);
    expect(a.apps.web?.version).toBe('1.0.0');
  });

  it('ignores a replayed or older assignment as stale', () => {
    const { signer, trusted } = keys();
    const signed = signAssignment(assignment(5), signer);
    expect(() => verifyAssignment(signed, [trusted], 'web-01', 5)).toThrow(StaleAssignmentError);
    expect(() => verifyAssignment(signed, [trusted], 'web-01', 9)).toThrow(/not above the accepted seq 9/);
  });

  it('refuses an assignment for another host or signed by another key', () => {
    const a = keys();
    const b = keys();
    expect(() => verifyAssignment(signAssignment(assignment(1, 'web-02'), a.signer), [a.trusted], 'web-01', 0)).toThrow(
      /addressed to host "web-02"/,
    );
    expect(() => verifyAssignment(signAssignment(assignment(1), a.signer), [b.trusted], 'web-01', 0)).toThrow(/not trusted/);
  });

  it('refuses a payload edited after signing (a raised seq, say)', () => {
    const { signer, trusted } = keys();
    const signed = signAssignment(assignment(1), signer);
    const edited = { ...signed, payload: signed.payload.replace('"seq":1', '"seq":99') };
    expect(() => verifyAssignment(edited, [trusted], 'web-01', 0)).toThrow(/does not verify/);
  });
});
