import { describe, expect, it } from 'vitest';
import { APP_POLICY_TYPE, policyRefusal, signAppPolicy, verifyAppPolicy } from './app-policy.js';
import { releaseKeysInForce, signRevocation } from './descriptor.js';
import { generateKeyPairPem, parsePrivateKey, parsePublicKey } from './keys.js';
import { applyKeyRotation, followKeyChain, isKeyRotation, signKeyRotation } from './key-rotation.js';

function keys(name: string) {
  const pem = generateKeyPairPem();
  return { signer: parsePrivateKey(pem.privateKeyPem, `${name}.key`), trusted: parsePublicKey(pem.publicKeyPem, `${name}.pub`) };
}

describe('controller key rotation', () => {
  it('moves trust along a chain, one epoch at a time, each statement signed by the key before', () => {
    const k1 = keys('k1');
    const k2 = keys('k2');
    const k3 = keys('k3');
    const s2 = signKeyRotation({ epoch: 2, next: k2.trusted, issuedAtMs: 1 }, k1.signer);
    const s3 = signKeyRotation({ epoch: 3, next: k3.trusted, issuedAtMs: 2 }, k2.signer);
    expect(isKeyRotation(s2)).toBe(true);
    const start = { epoch: 1, keys: [k1.trusted] };
    const end = followKeyChain([s2, s3], start);
    expect(end.epoch).toBe(3);
    expect(end.keys.map((k) => k.keyId)).toEqual([k3.trusted.keyId]);
    // A host already at epoch 2 skips what it has.
    expect(followKeyChain([s2, s3], applyKeyRotation(s2, start)).epoch).toBe(3);
  });

  it('refuses a statement that skips an epoch, or is signed by a key not trusted', () => {
    const k1 = keys('k1');
    const k2 = keys('k2');
    const k3 = keys('k3');
    const start = { epoch: 1, keys: [k1.trusted] };
    expect(() => applyKeyRotation(signKeyRotation({ epoch: 3, next: k3.trusted, issuedAtMs: 1 }, k1.signer), start)).toThrow(/takes only 2/);
    expect(() => applyKeyRotation(signKeyRotation({ epoch: 2, next: k3.trusted, issuedAtMs: 1 }, k2.signer), start)).toThrow(/not trusted/);
  });
});

describe('release key revocation', () => {
  it('takes a key out when another trusted key revokes it; not by itself, not the last key, not by a revoked key', () => {
    const a = keys('a');
    const b = keys('b');
    const trusted = [a.trusted, b.trusted];
    expect(() => signRevocation({ keyId: a.trusted.keyId, reason: '', issuedAtMs: 1 }, a.signer)).toThrow(/cannot revoke itself/);
    const revokeA = signRevocation({ keyId: a.trusted.keyId, reason: 'leaked', issuedAtMs: 1 }, b.signer);
    const revokeB = signRevocation({ keyId: b.trusted.keyId, reason: 'spite', issuedAtMs: 2 }, a.signer);
    expect(releaseKeysInForce(trusted, [revokeA])).toEqual({ keys: [b.trusted], revoked: [a.trusted.keyId] });
    // The leaked key's later revocation of the honest one counts for nothing: it is revoked first.
    expect(releaseKeysInForce(trusted, [revokeB, revokeA]).revoked).toEqual([a.trusted.keyId]);
    const stranger = keys('s');
    const forged = signRevocation({ keyId: a.trusted.keyId, reason: '', issuedAtMs: 1 }, stranger.signer);
    expect(releaseKeysInForce(trusted, [forged]).revoked).toEqual([]);
  });
});

describe('app policy', () => {
  it('is signed by a release key, names revoked versions, and refuses them', () => {
    const a = keys('a');
    const signed = signAppPolicy({ app: 'web', revokedVersions: ['1.0.1', '1.0.0'], issuedAtMs: 5 }, a.signer);
    expect(signed.payload).toContain(APP_POLICY_TYPE);
    const policy = verifyAppPolicy(signed, [a.trusted], 'web');
    expect(policy.revokedVersions).toEqual(['1.0.0', '1.0.1']);
    expect(policyRefusal(policy, '1.0.0')).toMatch(/web@1.0.0 is revoked/);
    expect(policyRefusal(policy, '1.0.2')).toBeNull();
    expect(() => verifyAppPolicy(signed, [keys('b').trusted])).toThrow(/not trusted/);
    expect(() => verifyAppPolicy(signed, [a.trusted], 'api')).toThrow(/expected "api"/);
  });
});
