// What the assignment writer's unit tests share: a silent logger, a controller key pair to sign
// and verify with, and an app release whose signature the writer carries but never checks.
import { createLogger, generateKeyPairPem, parsePrivateKey, parsePublicKey, type AppAssignment } from '@flotilla/shared';

export const logger = createLogger({ name: 'test', level: 'silent' });
const pair = generateKeyPairPem();
export const signingKey = parsePrivateKey(pair.privateKeyPem, 'controller.key');
export const publicKey = parsePublicKey(pair.publicKeyPem, 'controller.pub');

export const release = (version: string): AppAssignment => ({
  version,
  release: { payload: `{"version":"${version}"}`, keyId: 'k', signature: 's' },
});
