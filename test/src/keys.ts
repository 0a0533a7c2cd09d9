import { readFile, writeFile } from 'node:fs/promises';
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

/** Where an Ed25519 pair lives on disk. */
export interface KeyPaths {
  keyPath: string;
  pubPath: string;
}

/** A pair already on disk (made by `flotilla keys generate`, say), read and parsed. */
export async function readKeyPair(paths: KeyPaths): Promise<TestKeyPair> {
  const signer = parsePrivateKey(await readFile(paths.keyPath, 'utf8'), paths.keyPath);
  const publicKey = parsePublicKey(await readFile(paths.pubPath, 'utf8'), paths.pubPath);
  return { keyPath: paths.keyPath, pubPath: paths.pubPath, keyId: publicKey.keyId, signer, publicKey };
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
