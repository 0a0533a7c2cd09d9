import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { c as tarCreate } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConflictError,
  IntegrityError,
  ManifestError,
  SignatureError,
  ValidationError,
  createLogger,
  generateKeyPairPem,
  makeDescriptor,
  parsePrivateKey,
  parsePublicKey,
  signDescriptor,
  OutOfRangeError,
  type SigningKey,
} from '@flotilla/shared';
import { ArtifactStore } from './artifacts.js';
import { readReleaseManifest } from './release-manifest.js';
import { memoryBucket } from './store/memory-kv.js';
import { recordSchemas, type AppRecord, type ArtifactRecord } from './store/records.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const releasePair = generateKeyPairPem();
const signer = parsePrivateKey(releasePair.privateKeyPem, 'release.key');
const trusted = [parsePublicKey(releasePair.publicKeyPem, 'release.pub')];
const roguePair = generateKeyPairPem();
const rogue = parsePrivateKey(roguePair.privateKeyPem, 'rogue.key');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-artifacts-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
/** A gzip tarball holding `files` (null content = a symlink to server.js). */
async function tarball(files: Record<string, string | null>): Promise<Buffer> {
  const src = join(dir, `src-${++counter}`);
  await mkdir(src, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    if (content === null) await symlink('server.js', join(src, name));
    else await writeFile(join(src, name), content);
  }
  const file = join(dir, `release-${counter}.tar.gz`);
  await tarCreate({ gzip: true, cwd: src, file, portable: true }, Object.keys(files));
  return readFile(file);
}

const manifest = (extra: object = {}) => JSON.stringify({ start: { command: ['node', 'server.js'] }, ...extra });
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function signed(bytes: Buffer, app = 'web', version = '1.0.0', key: SigningKey = signer) {
  return signDescriptor(makeDescriptor({ app, version, sha256: sha256(bytes), size: bytes.length }), key);
}

async function newStore() {
  const artifacts = memoryBucket<ArtifactRecord>('flotilla_artifacts', recordSchemas.artifacts as never);
  const apps = memoryBucket<AppRecord>('flotilla_apps', recordSchemas.apps as never);
  const dataDir = await mkdtemp(join(dir, 'data-'));
  const store = await ArtifactStore.open({
    dataDir,
    trusted,
    maxBytes: 10 * 1024 * 1024,
    buckets: { artifacts: artifacts.bucket, apps: apps.bucket },
    logger,
    now: () => 1234,
  });
  return { store, artifacts: artifacts.bucket, apps: apps.bucket };
}

async function upload(store: ArtifactStore, header: ReturnType<typeof signed>, bytes: Buffer, chunk = 1000) {
  const session = await store.beginUpload(header);
  try {
    for (let i = 0; i < bytes.length; i += chunk) await session.write(bytes.subarray(i, i + chunk));
  } catch (err) {
    await session.abort();
    throw err;
  }
  return session.finish();
}

async function leftovers(store: ArtifactStore): Promise<string[]> {
  return (await readdir(store.dir)).filter((n) => n.startsWith('.upload-'));
}

describe('readReleaseManifest', () => {
  it('reads and validates flotilla.json at the tarball root', async () => {
    const bytes = await tarball({ 'flotilla.json': manifest({ app: 'web' }), 'server.js': '' });
    const file = join(dir, 'ok.tar.gz');
    await writeFile(file, bytes);
    const m = await readReleaseManifest(file, { app: 'web', version: '1' });
    expect(m.start.command).toEqual(['node', 'server.js']);
  });

  it('refuses a tarball without one, with an invalid one, or one for another app', async () => {
    const cases: [Record<string, string | null>, RegExp][] = [
      [{ 'server.js': '' }, /no flotilla\.json at the root/],
      [{ 'flotilla.json': '{not json', 'server.js': '' }, /flotilla\.json is not valid JSON/],
      [{ 'flotilla.json': JSON.stringify({ start: {} }) }, /flotilla\.json is invalid: start\.command/],
      [{ 'flotilla.json': manifest({ app: 'api' }) }, /names app "api", but the release is for "web"/],
      [{ 'server.js': '', 'flotilla.json': null }, /must be a regular file/],
    ];
    for (const [files, message] of cases) {
      const file = join(dir, `bad-${++counter}.tar.gz`);
      await writeFile(file, await tarball(files));
      await expect(readReleaseManifest(file, { app: 'web', version: '1' })).rejects.toThrow(message);
      await expect(readReleaseManifest(file, { app: 'web', version: '1' })).rejects.toBeInstanceOf(ManifestError);
    }
  });

  it('refuses bytes that are not a gzip tarball', async () => {
    const plain = join(dir, 'plain.txt');
    await writeFile(plain, 'hello');
    await expect(readReleaseManifest(plain, { app: 'web', version: '1' })).rejects.toThrow(/not gzip-compressed/);
    const broken = join(dir, 'broken.tar.gz');
    await writeFile(broken, Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(100, 7)]));
    await expect(readReleaseManifest(broken, { app: 'web', version: '1' })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('ArtifactStore', () => {
  it('stores a signed artifact by content, records it and its app, and serves it back', async () => {
    const { store, artifacts, apps } = await newStore();
    const bytes = await tarball({ 'flotilla.json': manifest(), 'server.js': 'x'.repeat(5000) });
    const result = await upload(store, signed(bytes), bytes);
    expect(result.alreadyPresent).toBe(false);
    expect(result.record).toMatchObject({ app: 'web', version: '1.0.0', sha256: sha256(bytes), size: bytes.length });
    expect(await readFile(store.pathOf(sha256(bytes)))).toEqual(bytes);
    expect((await artifacts.get('web.1.0.0'))?.value.sha256).toBe(sha256(bytes));
    expect((await apps.get('web'))?.value).toMatchObject({ name: 'web', stableVersion: null });

    const { handle, size } = await store.openForDownload(sha256(bytes), 10);
    await handle.close();
    expect(size).toBe(bytes.length);
    await expect(store.openForDownload(sha256(bytes), bytes.length + 1)).rejects.toBeInstanceOf(OutOfRangeError);
    await expect(store.openForDownload('0'.repeat(64), 0)).rejects.toThrow(/no artifact with SHA-256/);
  });

  it('is idempotent for the same bytes and refuses other bytes for the same version', async () => {
    const { store } = await newStore();
    const bytes = await tarball({ 'flotilla.json': manifest(), 'server.js': 'one' });
    await upload(store, signed(bytes), bytes);
    expect((await upload(store, signed(bytes), bytes)).alreadyPresent).toBe(true);
    const other = await tarball({ 'flotilla.json': manifest(), 'server.js': 'two' });
    await expect(store.beginUpload(signed(other))).rejects.toThrow(/web@1\.0\.0 already exists with other bytes/);
    await expect(store.beginUpload(signed(other))).rejects.toBeInstanceOf(ConflictError);
    expect(await leftovers(store)).toEqual([]);
  });

  it('refuses bad uploads, records nothing and leaves no temporary file', async () => {
    const { store, artifacts } = await newStore();
    const bytes = await tarball({ 'flotilla.json': manifest(), 'server.js': 'y'.repeat(3000) });
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 30] = (tampered[tampered.length - 30] as number) ^ 0xff;

    await expect(store.beginUpload({ ...signed(bytes), signature: '' })).rejects.toThrow(/unsigned/);
    await expect(store.beginUpload(signed(bytes, 'web', '1.0.0', rogue))).rejects.toBeInstanceOf(SignatureError);
    await expect(store.beginUpload({ payload: '{}', keyId: 'x', signature: 'y' })).rejects.toBeInstanceOf(ValidationError);
    await expect(upload(store, signed(bytes), tampered)).rejects.toThrow(/do not match the descriptor/);
    await expect(upload(store, signed(bytes), bytes.subarray(0, 100))).rejects.toThrow(/truncated: 100 of the/);
    await expect(upload(store, signed(bytes), Buffer.concat([bytes, Buffer.from('more')]))).rejects.toBeInstanceOf(IntegrityError);
    const noManifest = await tarball({ 'server.js': '' });
    await expect(upload(store, signed(noManifest), noManifest)).rejects.toBeInstanceOf(ManifestError);

    expect(await store.list()).toEqual([]);
    expect(await artifacts.keys()).toEqual([]);
    expect(await leftovers(store)).toEqual([]);
  });

  it('refuses an upload over the size limit before any byte arrives', async () => {
    const { store } = await newStore();
    const header = signDescriptor(makeDescriptor({ app: 'web', version: '9', sha256: 'a'.repeat(64), size: 11 * 1024 * 1024 }), signer);
    await expect(store.beginUpload(header)).rejects.toThrow(/over the controller's limit/);
  });
});
