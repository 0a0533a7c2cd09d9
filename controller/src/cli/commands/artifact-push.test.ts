import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SignedDescriptor as SignedDescriptorMessage } from '@flotilla/proto';
import { runCli } from '../program.js';
import { captureContext, fakeClient } from '../testing.js';

let dir: string;
let artifact: string;
let bytes: Buffer;
let key: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-push-'));
  artifact = join(dir, 'web-1.4.2.tar.gz');
  bytes = gzipSync(randomBytes(600 * 1024), { level: 0 });
  writeFileSync(artifact, bytes);
  const c = captureContext();
  expect(await runCli(['keys', 'generate', 'release', '--out-dir', dir], c.ctx)).toBe(0);
  key = join(dir, 'release.key');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function sign(file: string, app: string, version: string, out: string): Promise<string> {
  const c = captureContext();
  expect(await runCli(['artifact', 'sign', file, '--app', app, '--version', version, '--key', key, '--out', out], c.ctx)).toBe(0);
  return out;
}

/** A client that records the upload in memory (no network in unit tests). */
function recordingClient() {
  const received: { header?: SignedDescriptorMessage; bytes: Buffer[] } = { bytes: [] };
  const client = fakeClient({
    upload: async (header, chunks) => {
      received.header = header;
      for await (const chunk of chunks()) received.bytes.push(chunk);
      const size = received.bytes.reduce((n, b) => n + b.length, 0);
      return {
        artifact: { app: 'web', version: '1.4.2', sha256: sha256(Buffer.concat(received.bytes)), size: String(size), key_id: header.key_id ?? '', uploaded_at_ms: '1', signed: null },
        already_present: false,
      };
    },
  });
  return { client, received };
}

describe('flotilla artifact push, local checks of a pre-signed descriptor', () => {
  it('uploads with a matching pre-signed descriptor: header first, then the exact bytes', async () => {
    const sig = await sign(artifact, 'web', '1.4.2', join(dir, 'web.sig.json'));
    const { client, received } = recordingClient();
    const c = captureContext({ connect: () => client });
    const code = await runCli(['artifact', 'push', artifact, '--app', 'web', '--version', '1.4.2', '--signature', sig], c.ctx);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const signed = JSON.parse(readFileSync(sig, 'utf8'));
    expect(received.header).toEqual({ descriptor_json: signed.payload, key_id: signed.keyId, signature: signed.signature });
    expect(Buffer.concat(received.bytes).equals(bytes)).toBe(true);
    expect(Math.max(...received.bytes.map((b) => b.length))).toBe(256 * 1024);
    expect(c.out()).toContain(`sha256 ${sha256(bytes)}\n`);
  });

  it('refuses a descriptor for another app (exit 2, nothing sent)', async () => {
    const sig = await sign(artifact, 'api', '1.4.2', join(dir, 'api.sig.json'));
    const c = captureContext();
    expect(await runCli(['artifact', 'push', artifact, '--app', 'web', '--version', '1.4.2', '--signature', sig], c.ctx)).toBe(2);
    expect(c.err()).toBe(`error: signed descriptor ${sig} is for app "api", not "web" (--app)\n`);
    expect(c.connections).toEqual([]);
  });

  it('refuses a descriptor for another version', async () => {
    const sig = await sign(artifact, 'web', '1.4.1', join(dir, 'old.sig.json'));
    const c = captureContext();
    expect(await runCli(['artifact', 'push', artifact, '--app', 'web', '--version', '1.4.2', '--signature', sig], c.ctx)).toBe(2);
    expect(c.err()).toBe(`error: signed descriptor ${sig} is for web version "1.4.1", not "1.4.2" (--version)\n`);
    expect(c.connections).toEqual([]);
  });

  it('refuses a descriptor signed for another file of the same size (SHA-256 differs)', async () => {
    const sig = await sign(artifact, 'web', '1.4.2', join(dir, 'web.sig.json'));
    const other = join(dir, 'other.tar.gz');
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 100] = (tampered[tampered.length - 100] as number) ^ 0xff;
    writeFileSync(other, tampered);
    const c = captureContext();
    expect(await runCli(['artifact', 'push', other, '--app', 'web', '--version', '1.4.2', '--signature', sig], c.ctx)).toBe(2);
    expect(c.err()).toBe(
      `error: signed descriptor ${sig} is for SHA-256 ${sha256(bytes)}, but ${other} has SHA-256 ${sha256(tampered)} (wrong file, or changed after signing)\n`,
    );
    expect(c.connections).toEqual([]);
  });

  it('refuses a descriptor signed for a file of another size', async () => {
    const sig = await sign(artifact, 'web', '1.4.2', join(dir, 'web.sig.json'));
    const other = join(dir, 'short.tar.gz');
    writeFileSync(other, bytes.subarray(0, 1000));
    const c = captureContext();
    expect(await runCli(['artifact', 'push', other, '--app', 'web', '--version', '1.4.2', '--signature', sig], c.ctx)).toBe(2);
    expect(c.err()).toBe(
      `error: signed descriptor ${sig} is for a file of ${bytes.length} bytes, but ${other} has 1000 bytes (wrong file?)\n`,
    );
  });

  it.each([
    ['not JSON', 'not json', /signed descriptor .* is not valid JSON/],
    ['missing fields', '{"payload":"{}"}', /must be a JSON object with string fields payload, keyId and signature/],
    ['a payload that is no descriptor', JSON.stringify({ payload: '{"app":"web"}', keyId: 'k', signature: 'AA==' }), /descriptor is invalid/],
  ])('refuses a signature file that is %s', async (_what, content, message) => {
    const sig = join(dir, 'bad.sig.json');
    writeFileSync(sig, content);
    const c = captureContext();
    expect(await runCli(['artifact', 'push', artifact, '--app', 'web', '--version', '1.4.2', '--signature', sig], c.ctx)).toBe(2);
    expect(c.err()).toMatch(message);
    expect(c.connections).toEqual([]);
  });

  it('signs and uploads in one step with --key', async () => {
    const { client, received } = recordingClient();
    const c = captureContext({ connect: () => client });
    expect(await runCli(['artifact', 'push', artifact, '--app', 'web', '--version', '1.4.2', '--key', key], c.ctx)).toBe(0);
    expect(JSON.parse(received.header?.descriptor_json ?? '{}')).toMatchObject({ app: 'web', version: '1.4.2', sha256: sha256(bytes), size: bytes.length });
    expect(Buffer.concat(received.bytes).equals(bytes)).toBe(true);
    expect(c.out()).toMatch(/^pushed web@1\.4\.2 \(600 KiB, signed by key [0-9a-f]{16}\)\nsha256 [0-9a-f]{64}\n$/);
  });
});
