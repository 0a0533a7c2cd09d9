import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPairPem, parsePrivateKey, parsePublicKey, type SigningKey, type TrustedKey } from '@flotilla/shared';

/** An Ed25519 pair written as NAME.key / NAME.pub, with the parsed halves. */
export interface TestKeyPair {
  keyPath: string;
  pubPath: string;
  keyId: string;
  signer: SigningKey;
  publicKey: TrustedKey;
}

/** Writes a new Ed25519 pair as NAME.key (mode 600, as the programs demand) and NAME.pub into `dir`. */
export async function writeKeyPair(dir: string, name: string): Promise<TestKeyPair> {
  const pair = generateKeyPairPem();
  const keyPath = join(dir, `${name}.key`);
  const pubPath = join(dir, `${name}.pub`);
  await writeFile(keyPath, pair.privateKeyPem, { mode: 0o600 });
  await writeFile(pubPath, pair.publicKeyPem);
  return {
    keyPath,
    pubPath,
    keyId: pair.keyId,
    signer: parsePrivateKey(pair.privateKeyPem, keyPath),
    publicKey: parsePublicKey(pair.publicKeyPem, pubPath),
  };
}
