import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ASSIGNMENT_TYPE,
  createLogger,
  generateKeyPairPem,
  parsePrivateKey,
  parsePublicKey,
  signAppPolicy,
  signKeyRotation,
  signRevocation,
  type Assignment,
} from '@flotilla/shared';
import { TrustKeeper } from './trust.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const dirs: string[] = [];

function keys(name: string) {
  const pem = generateKeyPairPem();
  return { signer: parsePrivateKey(pem.privateKeyPem, `${name}.key`), trusted: parsePublicKey(pem.publicKeyPem, `${name}.pub`) };
}

async function keeper(opts: { controller: ReturnType<typeof keys>; release: ReturnType<typeof keys>[]; dataDir?: string }) {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'flotilla-trust-')));
  dirs.push(dataDir);
  const k = new TrustKeeper({ dataDir, controllerKeys: [opts.controller.trusted], releaseKeys: opts.release.map((r) => r.trusted), logger });
  await k.load();
  return { k, dataDir };
}

const assignmentCarrying = (over: Partial<Assignment>): Assignment => ({
  type: ASSIGNMENT_TYPE,
  hostId: 'h1',
  seq: 1,
  issuedAtMs: 0,
  expiresAtMs: 1,
  apps: {},
  ...over,
});

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('TrustKeeper', () => {
  it('follows a rotation, keeps it across restarts, and ignores one already taken', async () => {
    const c1 = keys('c1');
    const c2 = keys('c2');
    const r = keys('r');
    const { k, dataDir } = await keeper({ controller: c1, release: [r] });
    const statement = signKeyRotation({ epoch: 2, next: c2.trusted, issuedAtMs: 1 }, c1.signer);
    expect(await k.rotate(statement)).toBe(true);
    expect(k.controllerTrust.epoch).toBe(2);
    expect(await k.rotate(statement)).toBe(false);
    const again = await keeper({ controller: c1, release: [r], dataDir });
    expect(again.k.controllerTrust.epoch).toBe(2);
    expect(again.k.controllerTrust.keys.map((x) => x.keyId)).toEqual([c2.trusted.keyId]);
  });

  it('refuses a rotation signed by a key it does not trust, and stays where it was', async () => {
    const c1 = keys('c1');
    const stranger = keys('s');
    const { k } = await keeper({ controller: c1, release: [keys('r')] });
    await expect(k.rotate(signKeyRotation({ epoch: 2, next: stranger.trusted, issuedAtMs: 1 }, stranger.signer))).rejects.toThrow();
    expect(k.controllerTrust.epoch).toBe(1);
  });

  it('keeps revocations and the newest app policy an assignment carries, and obeys them', async () => {
    const a = keys('a');
    const b = keys('b');
    const { k, dataDir } = await keeper({ controller: keys('c'), release: [a, b] });
    const older = signAppPolicy({ app: 'web', revokedVersions: ['1.0.0'], issuedAtMs: 1 }, b.signer);
    const newer = signAppPolicy({ app: 'web', revokedVersions: ['1.0.0', '1.1.0'], issuedAtMs: 2 }, b.signer);
    await k.absorb(assignmentCarrying({ apps: { web: { version: '2.0.0', release: { payload: '{}', keyId: 'x', signature: 's' }, policy: newer } } }));
    await k.absorb(assignmentCarrying({ apps: { web: { version: '2.0.0', release: { payload: '{}', keyId: 'x', signature: 's' }, policy: older } } }));
    expect(k.refusal('web', '1.1.0')).toMatch(/revoked/);
    await k.absorb(assignmentCarrying({ revocations: [signRevocation({ keyId: a.trusted.keyId, reason: 'leaked', issuedAtMs: 3 }, b.signer)] }));
    expect(k.releaseKeys.map((x) => x.keyId)).toEqual([b.trusted.keyId]);
    // An assignment without any of it later changes nothing, and a restart keeps it all.
    await k.absorb(assignmentCarrying({}));
    const again = await keeper({ controller: keys('c'), release: [a, b], dataDir });
    expect(again.k.refusal('web', '1.1.0')).toMatch(/revoked/);
    expect(again.k.releaseKeys.map((x) => x.keyId)).toEqual([b.trusted.keyId]);
  });
});
