import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyIdOf, loadPrivateKey, loadPublicKey } from '@flotilla/shared';
import { runCli } from '../program.js';
import { captureContext } from '../testing.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-keys-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;

describe('flotilla keys generate', () => {
  it('writes NAME.key (PKCS#8, 0600) and NAME.pub (SPKI) and prints the key id', async () => {
    const c = captureContext();
    expect(await runCli(['keys', 'generate', 'release', '--out-dir', dir], c.ctx)).toBe(0);
    const keyPath = join(dir, 'release.key');
    const pubPath = join(dir, 'release.pub');
    expect(readFileSync(keyPath, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readFileSync(pubPath, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(mode(keyPath)).toBe(0o600);
    const signer = loadPrivateKey(keyPath);
    const pub = loadPublicKey(pubPath);
    expect(signer.keyId).toBe(pub.keyId);
    expect(keyIdOf(pub.key)).toBe(pub.keyId);
    expect(c.out()).toMatch(new RegExp(`^key id ${pub.keyId}\\n`));
    expect(c.out()).toContain(keyPath);
  });

  it('--json prints the key id and both paths', async () => {
    const c = captureContext();
    expect(await runCli(['--json', 'keys', 'generate', 'ci', '--out-dir', dir], c.ctx)).toBe(0);
    const printed = JSON.parse(c.out());
    expect(printed).toEqual({
      keyId: loadPublicKey(join(dir, 'ci.pub')).keyId,
      privateKey: join(dir, 'ci.key'),
      publicKey: join(dir, 'ci.pub'),
    });
  });

  it('refuses to overwrite an existing key (exit 2, file untouched) unless --force', async () => {
    const keyPath = join(dir, 'release.key');
    writeFileSync(keyPath, 'precious');
    chmodSync(keyPath, 0o644);
    const c = captureContext();
    expect(await runCli(['keys', 'generate', 'release', '--out-dir', dir], c.ctx)).toBe(2);
    expect(c.err()).toBe(`error: ${keyPath} already exists; refusing to overwrite a key (use --force to replace it)\n`);
    expect(readFileSync(keyPath, 'utf8')).toBe('precious');
    expect(() => statSync(join(dir, 'release.pub'))).toThrow();

    const forced = captureContext();
    expect(await runCli(['keys', 'generate', 'release', '--out-dir', dir, '--force'], forced.ctx)).toBe(0);
    expect(readFileSync(keyPath, 'utf8')).toMatch(/BEGIN PRIVATE KEY/);
    // The replaced secret does not keep the old file's looser mode.
    expect(mode(keyPath)).toBe(0o600);
  });

  it('refuses when only the public half exists, writing nothing', async () => {
    writeFileSync(join(dir, 'release.pub'), 'old');
    const c = captureContext();
    expect(await runCli(['keys', 'generate', 'release', '--out-dir', dir], c.ctx)).toBe(2);
    expect(c.err()).toContain(`${join(dir, 'release.pub')} already exists`);
    expect(() => statSync(join(dir, 'release.key'))).toThrow();
  });

  it('rejects a name that is a path', async () => {
    const c = captureContext();
    expect(await runCli(['keys', 'generate', '../release', '--out-dir', dir], c.ctx)).toBe(2);
    expect(c.err()).toMatch(/key name "..\/release" is invalid/);
  });

  it('names the directory it cannot write to', async () => {
    const c = captureContext();
    const missing = join(dir, 'nope');
    expect(await runCli(['keys', 'generate', 'release', '--out-dir', missing], c.ctx)).toBe(2);
    expect(c.err()).toContain(`cannot create ${join(missing, 'release.key')}`);
  });
});
