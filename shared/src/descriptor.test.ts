import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDescriptor, parseDescriptor, signDescriptor, verifyDescriptor } from './descriptor.js';
import { SignatureError, ValidationError } from './errors.js';
import { generateKeyPairPem, parsePrivateKey, parsePublicKey } from './keys.js';

const sha = 'a'.repeat(64);

function keyPair() {
  const pem = generateKeyPairPem();
  return { signer: parsePrivateKey(pem.privateKeyPem, 'test.key'), trusted: parsePublicKey(pem.publicKeyPem, 'test.pub') };
}

describe('release descriptors', () => {
  it('signs and verifies a descriptor, binding app, version, digest and size', () => {
    const { signer, trusted } = keyPair();
    const d = makeDescriptor({ app: 'web', version: '1.4.2', sha256: sha, size: 1234 });
    const signed = signDescriptor(d, signer);
    expect(signed.keyId).toBe(trusted.keyId);
    expect(verifyDescriptor(signed, [trusted], { app: 'web', version: '1.4.2', sha256: sha })).toEqual(d);
  });

  it('refuses a descriptor signed by a key that is not trusted, naming the key', () => {
    const a = keyPair();
    const b = keyPair();
    const signed = signDescriptor(makeDescriptor({ app: 'web', version: '1', sha256: sha, size: 1 }), a.signer);
    expect(() => verifyDescriptor(signed, [b.trusted])).toThrow(SignatureError);
    expect(() => verifyDescriptor(signed, [b.trusted])).toThrow(/not trusted/);
  });

  it('refuses a payload changed after signing', () => {
    const { signer, trusted } = keyPair();
    const signed = signDescriptor(makeDescriptor({ app: 'web', version: '1', sha256: sha, size: 10 }), signer);
    const tampered = { ...signed, payload: signed.payload.replace('"size":10', '"size":11') };
    expect(() => verifyDescriptor(tampered, [trusted])).toThrow(/does not verify/);
  });

  it('refuses an unsigned or malformed signature', () => {
    const { signer, trusted } = keyPair();
    const signed = signDescriptor(makeDescriptor({ app: 'web', version: '1', sha256: sha, size: 10 }), signer);
    expect(() => verifyDescriptor({ ...signed, signature: '' }, [trusted])).toThrow(/unsigned/);
    expect(() => verifyDescriptor({ ...signed, signature: 'AAAA' }, [trusted])).toThrow(/malformed signature/);
  });

  it('refuses a descriptor for another app or version than expected', () => {
    const { signer, trusted } = keyPair();
    const signed = signDescriptor(makeDescriptor({ app: 'web', version: '1.0', sha256: sha, size: 10 }), signer);
    expect(() => verifyDescriptor(signed, [trusted], { app: 'api' })).toThrow(/is for app "web", expected "api"/);
    expect(() => verifyDescriptor(signed, [trusted], { version: '2.0' })).toThrow(/is for version "1.0", expected "2.0"/);
  });

  it('rejects malformed descriptors with the field at fault', () => {
    expect(() => makeDescriptor({ app: 'Web App', version: '1', sha256: sha, size: 1 })).toThrow(/app/);
    expect(() => makeDescriptor({ app: 'web', version: '../1', sha256: sha, size: 1 })).toThrow(/version/);
    expect(() => makeDescriptor({ app: 'web', version: '1', sha256: 'xyz', size: 1 })).toThrow(/sha256/);
    expect(() => makeDescriptor({ app: 'web', version: '1', sha256: sha, size: 0 })).toThrow(/size/);
    expect(() => parseDescriptor('{"app":"web"')).toThrow(ValidationError);
    // Same content, not canonical (key order): refused so that what is signed is unambiguous.
    expect(() =>
      parseDescriptor(`{"version":"1","app":"web","sha256":"${sha}","size":1,"type":"flotilla.descriptor/v1"}`),
    ).toThrow(/canonical/);
  });

  it('accepts keys made by openssl genpkey -algorithm ed25519', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-keys-'));
    try {
      try {
        execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', join(dir, 'k.pem')], { stdio: 'ignore' });
      } catch {
        return; // no openssl on this machine: nothing to compare against
      }
      execFileSync('openssl', ['pkey', '-in', join(dir, 'k.pem'), '-pubout', '-out', join(dir, 'k.pub')], { stdio: 'ignore' });
      const signer = parsePrivateKey(readFileSync(join(dir, 'k.pem'), 'utf8'), 'k.pem');
      const trusted = parsePublicKey(readFileSync(join(dir, 'k.pub'), 'utf8'), 'k.pub');
      const signed = signDescriptor(makeDescriptor({ app: 'web', version: '1', sha256: sha, size: 1 }), signer);
      expect(verifyDescriptor(signed, [trusted]).app).toBe('web');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a non-Ed25519 key with a message that says so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-keys-'));
    try {
      try {
        execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', join(dir, 'r.pem')], { stdio: 'ignore' });
      } catch {
        return;
      }
      expect(() => parsePrivateKey(readFileSync(join(dir, 'r.pem'), 'utf8'), 'r.pem')).toThrow(/rsa key; Flotilla signs with Ed25519/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
