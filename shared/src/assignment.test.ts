import { describe, expect, it } from 'vitest';
import { ASSIGNMENT_TYPE, MAX_SEQ_JUMP, signAssignment, verifyAssignment, type Assignment, type AssignmentCheck } from './assignment.js';
import { SignatureError, StaleAssignmentError, ValidationError } from './errors.js';
import { generateKeyPairPem, parsePrivateKey, parsePublicKey } from './keys.js';

function keys() {
  const pem = generateKeyPairPem();
  return { signer: parsePrivateKey(pem.privateKeyPem, 'c.key'), trusted: parsePublicKey(pem.publicKeyPem, 'c.pub') };
}

const DAY = 24 * 60 * 60 * 1000;
const NOW = 1_800_000_000_000;
const release = { payload: '{}', keyId: 'k', signature: 's' };
const assignment = (seq: number, over: Partial<Assignment> = {}): Assignment => ({
  type: ASSIGNMENT_TYPE,
  hostId: 'web-01',
  epoch: 1,
  seq,
  issuedAtMs: NOW - 1000,
  expiresAtMs: NOW + DAY,
  apps: { web: { version: '1.0.0', release, stableVersion: '0.9.0' } },
  ...over,
});

function check(trusted: ReturnType<typeof keys>['trusted'], acceptedSeq: number, over: Partial<AssignmentCheck> = {}): AssignmentCheck {
  return { hostId: 'web-01', trust: { epoch: 1, keys: [trusted] }, accepted: { epoch: 1, seq: acceptedSeq }, nowMs: NOW, ...over };
}

describe('assignments', () => {
  it('verifies an assignment above the accepted seq', () => {
    const { signer, trusted } = keys();
    const a = verifyAssignment(signAssignment(assignment(5), signer), check(trusted, 4));
    expect(a.seq).toBe(5);
    expect(a.apps.web?.version).toBe('1.0.0');
  });

  it('ignores a replayed or older assignment as stale', () => {
    const { signer, trusted } = keys();
    const signed = signAssignment(assignment(5), signer);
    expect(() => verifyAssignment(signed, check(trusted, 5))).toThrow(StaleAssignmentError);
    expect(() => verifyAssignment(signed, check(trusted, 9))).toThrow(/not above the accepted \(epoch 1, seq 9\)/);
  });

  it('refuses an assignment for another host or signed by another key', () => {
    const a = keys();
    const b = keys();
    expect(() => verifyAssignment(signAssignment(assignment(1, { hostId: 'web-02' }), a.signer), check(a.trusted, 0))).toThrow(
      /addressed to host "web-02"/,
    );
    expect(() => verifyAssignment(signAssignment(assignment(1), a.signer), check(b.trusted, 0))).toThrow(/not trusted/);
  });

  it('refuses a payload edited after signing (a raised seq, say)', () => {
    const { signer, trusted } = keys();
    const signed = signAssignment(assignment(1), signer);
    const edited = { ...signed, payload: signed.payload.replace('"seq":1', '"seq":99') };
    expect(() => verifyAssignment(edited, check(trusted, 0))).toThrow(/does not verify/);
  });

  it('refuses a year-old assignment, and one with no expiry, even to a host that accepted nothing', () => {
    const { signer, trusted } = keys();
    const yearOld = signAssignment(assignment(1, { issuedAtMs: NOW - 366 * DAY, expiresAtMs: NOW - 365 * DAY }), signer);
    const err = (() => {
      try {
        verifyAssignment(yearOld, check(trusted, 0));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StaleAssignmentError);
    expect((err as StaleAssignmentError).details.reason).toBe('expired');
    const { expiresAtMs: _e, ...noExpiry } = assignment(1);
    expect(() => verifyAssignment(signAssignment(noExpiry, signer), check(trusted, 0))).toThrow(/carries no expiry/);
  });

  it('refuses seq 2^53-1 (it would leave no seq above it) and still takes the next normal one', () => {
    const { signer, trusted } = keys();
    const huge = signAssignment(assignment(Number.MAX_SAFE_INTEGER), signer);
    expect(() => verifyAssignment(huge, check(trusted, 7))).toThrow(ValidationError);
    expect(() => verifyAssignment(signAssignment(assignment(7 + MAX_SEQ_JUMP + 1), signer), check(trusted, 7))).toThrow(/jumps more than/);
    expect(verifyAssignment(signAssignment(assignment(7 + MAX_SEQ_JUMP), signer), check(trusted, 7)).seq).toBe(7 + MAX_SEQ_JUMP);
    expect(verifyAssignment(signAssignment(assignment(8), signer), check(trusted, 7)).seq).toBe(8);
  });

  it('orders by epoch first: a new epoch counts seq afresh, an older epoch is stale, a later one needs its statement', () => {
    const { signer, trusted } = keys();
    const trust2 = { epoch: 2, keys: [trusted] };
    const fresh = signAssignment(assignment(1, { epoch: 2 }), signer);
    expect(verifyAssignment(fresh, check(trusted, 40, { trust: trust2 })).seq).toBe(1);
    expect(() => verifyAssignment(signAssignment(assignment(41, { epoch: 1 }), signer), check(trusted, 40, { trust: trust2 }))).toThrow(
      StaleAssignmentError,
    );
    expect(() => verifyAssignment(signAssignment(assignment(MAX_SEQ_JUMP + 1, { epoch: 2 }), signer), check(trusted, 40, { trust: trust2 }))).toThrow(
      /jumps more than/,
    );
    expect(() => verifyAssignment(fresh, check(trusted, 40))).toThrow(SignatureError);
  });
});
