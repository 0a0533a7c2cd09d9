import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DESCRIPTOR_TYPE, loadTrustedKeys, parseDescriptor, verifyDescriptor } from '@flotilla/shared';
import { runCli } from '../program.js';
import { captureContext } from '../testing.js';

let dir: string;
let artifact: string;
let bytes: Buffer;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-sign-'));
  artifact = join(dir, 'web-1.4.2.tar.gz');
  // Larger than one 256 KiB read so that hashing really streams several chunks.
  bytes = gzipSync(randomBytes(700 * 1024), { level: 0 });
  writeFileSync(artifact, bytes);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function generateKeys(name: string): Promise<{ key: string; pub: string }> {
  const c = captureContext();
  expect(await runCli(['keys', 'generate', name, '--out-dir', dir], c.ctx)).toBe(0);
  return { key: join(dir, `${name}.key`), pub: join(dir, `${name}.pub`) };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('flotilla artifact sign', () => {
  it('writes FILE.sig.json whose descriptor verifies with the public key and names app, version, size, sha256', async () => {
    const { key, pub } = await generateKeys('release');
    const c = captureContext();
    const code = await runCli(['artifact', 'sign', artifact, '--app', 'web', '--version', '1.4.2', '--key', key], c.ctx);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const signed = JSON.parse(readFileSync(`${artifact}.sig.json`, 'utf8'));
    expect(Object.keys(signed).sort()).toEqual(['keyId', 'payload', 'signature']);
    const trusted = loadTrustedKeys([pub]);
    const descriptor = verifyDescriptor(signed, trusted, { app: 'web', version: '1.4.2', sha256: sha256(bytes) });
    expect(descriptor).toEqual({ type: DESCRIPTOR_TYPE, app: 'web', version: '1.4.2', sha256: sha256(bytes), size: bytes.length });
    expect(c.out()).toContain(`sha256 ${sha256(bytes)}\n`);
    expect(c.out()).toContain(`with key ${trusted[0]?.keyId}`);
    expect(c.out()).toContain(`wrote ${artifact}.sig.json`);
  });

  it('writes to --out and reports JSON with --json', async () => {
    const { key } = await generateKeys('release');
    const out = join(dir, 'descriptor.json');
    const c = captureContext();
    const argv = ['--json', 'artifact', 'sign', artifact, '--app', 'web', '--version', '2', '--key', key, '--out', out];
    expect(await runCli(argv, c.ctx)).toBe(0);
    const printed = JSON.parse(c.out());
    expect(printed).toMatchObject({ app: 'web', version: '2', sha256: sha256(bytes), size: bytes.length, signature: out });
    expect(parseDescriptor(JSON.parse(readFileSync(out, 'utf8')).payload).version).toBe('2');
  });

  it('accepts a key made by `openssl genpkey -algorithm ed25519`', async () => {
    const key = join(dir, 'openssl.key');
    const pub = join(dir, 'openssl.pub');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
    execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
    chmodSync(key, 0o600);
    const c = captureContext();
    const code = await runCli(['artifact', 'sign', artifact, '--app', 'web', '--version', '1.4.2', '--key', key], c.ctx);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const signed = JSON.parse(readFileSync(`${artifact}.sig.json`, 'utf8'));
    expect(verifyDescriptor(signed, loadTrustedKeys([pub]), { app: 'web', version: '1.4.2' }).sha256).toBe(sha256(bytes));
  });

  it('warns when the private key is readable by others, and still signs', async () => {
    const { key } = await generateKeys('release');
    chmodSync(key, 0o644);
    const c = captureContext();
    expect(await runCli(['artifact', 'sign', artifact, '--app', 'web', '--version', '1', '--key', key], c.ctx)).toBe(0);
    expect(c.err()).toBe(`warning: private key ${key} is readable by others (mode 0644); chmod 600 it\n`);
  });

  it.each([
    ['a missing artifact', (k: string) => ['artifact', 'sign', join(dir, 'nope.tar.gz'), '--app', 'web', '--version', '1', '--key', k], /cannot read artifact .*nope\.tar\.gz: ENOENT/],
    ['a missing key', () => ['artifact', 'sign', artifact, '--app', 'web', '--version', '1', '--key', join(dir, 'none.key')], /cannot read key file .*none\.key/],
    ['a public key given as --key', (_k: string, p: string) => ['artifact', 'sign', artifact, '--app', 'web', '--version', '1', '--key', p], /release\.pub: not a PEM private key/],
    ['a bad app name', (k: string) => ['artifact', 'sign', artifact, '--app', 'WEB', '--version', '1', '--key', k], /app name "WEB" is invalid/],
    ['a bad version', (k: string) => ['artifact', 'sign', artifact, '--app', 'web', '--version', '1..2', '--key', k], /version "1\.\.2" is invalid/],
    ['a directory as the artifact', (k: string) => ['artifact', 'sign', dir, '--app', 'web', '--version', '1', '--key', k], /is not a regular file/],
  ])('rejects %s with exit 2 and a message naming it', async (_what, argv, message) => {
    const { key, pub } = await generateKeys('release');
    const c = captureContext();
    expect(await runCli(argv(key, pub), c.ctx)).toBe(2);
    expect(c.err()).toMatch(message);
  });

  it('rejects an empty artifact', async () => {
    const { key } = await generateKeys('release');
    const empty = join(dir, 'empty.tar.gz');
    writeFileSync(empty, '');
    const c = captureContext();
    expect(await runCli(['artifact', 'sign', empty, '--app', 'web', '--version', '1', '--key', key], c.ctx)).toBe(2);
    expect(c.err()).toBe(`error: artifact ${empty} is empty\n`);
  });
});
