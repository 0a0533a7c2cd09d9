import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { c as tarCreate } from 'tar';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ConflictError,
  NotFoundError,
  createLogger,
  generateKeyPairPem,
  makeDescriptor,
  parsePrivateKey,
  parsePublicKey,
  signDescriptor,
} from '@flotilla/shared';
import { ArtifactStore } from '../artifacts.js';
import { memoryBucket } from '../store/memory-kv.js';
import { recordSchemas, type AppRecord, type ArtifactRecord } from '../store/records.js';
import { ArtifactGc, planRetention, protectionsOf, type RetentionFacts } from './index.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const pair = generateKeyPairPem();
const signer = parsePrivateKey(pair.privateKeyPem, 'release.key');
const trusted = [parsePublicKey(pair.publicKeyPem, 'release.pub')];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-retention-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.useRealTimers();
});

let counter = 0;
/** A release tarball; `body` makes its bytes differ (or not) between versions. */
async function tarball(body: string): Promise<Buffer> {
  const src = join(dir, `src-${++counter}`);
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'flotilla.json'), JSON.stringify({ start: { command: ['node', 'server.js'] } }));
  await writeFile(join(src, 'server.js'), body);
  const file = join(dir, `release-${counter}.tar.gz`);
  await tarCreate({ gzip: true, cwd: src, file, portable: true, mtime: new Date(0) }, ['flotilla.json', 'server.js']);
  return readFile(file);
}

async function newStore() {
  let clock = 1_000;
  const store = await ArtifactStore.open({
    dataDir: await mkdtemp(join(dir, 'data-')),
    trusted,
    maxBytes: 1024 * 1024,
    buckets: {
      artifacts: memoryBucket<ArtifactRecord>('flotilla_artifacts', recordSchemas.artifacts as never).bucket,
      apps: memoryBucket<AppRecord>('flotilla_apps', recordSchemas.apps as never).bucket,
    },
    logger,
    now: () => (clock += 1_000),
  });
  const push = async (app: string, version: string, bytes: Buffer) => {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const session = await store.beginUpload(signDescriptor(makeDescriptor({ app, version, sha256, size: bytes.length }), signer));
    await session.write(bytes);
    return (await session.finish()).record;
  };
  return { store, push };
}

/** Facts a test sets directly; `locked` records the apps collected under their lock. */
function fakeFacts(over: Partial<{ stable: string; previousStable: string; assigned: Record<string, string[]>; rollout: { id: string; target: string; source: string | null } }> = {}) {
  const locked: string[] = [];
  const facts: RetentionFacts = {
    stableVersions: async () => ({ stable: over.stable ?? null, previousStable: over.previousStable ?? null }),
    assignedHosts: () => new Map(Object.entries(over.assigned ?? {})),
    activeRollout: () => over.rollout ?? null,
    exclusive: async (app, fn) => {
      locked.push(app);
      return fn();
    },
  };
  return { facts, locked };
}

const exists = (path: string) => access(path).then(() => true, () => false);

function record(version: string, uploadedAtMs: number): ArtifactRecord {
  return { app: 'web', version, sha256: 'a'.repeat(64), size: 10, keyId: 'k', uploadedAtMs, signed: { payload: '', keyId: 'k', signature: '' } };
}

describe('the retention rule', () => {
  it('keeps the newest N unprotected versions; protected ones stay and do not use up N', () => {
    const artifacts = ['1', '2', '3', '4', '5', '6'].map((v, i) => record(v, i));
    const plan = planRetention('web', artifacts, 2, new Map([['5', ['stable']], ['1', ['assigned to host h1']]]));
    expect(plan.keep.map((k) => [k.record.version, k.protectedBy])).toEqual([
      ['6', []],
      ['5', ['stable']],
      ['4', []],
      ['1', ['assigned to host h1']],
    ]);
    expect(plan.remove.map((r) => r.version)).toEqual(['3', '2']);
  });

  it('protects stable, previous stable, assigned versions and both ends of an active rollout, each with its reason', () => {
    const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'];
    const p = protectionsOf({
      stable: '2.0',
      previousStable: '1.0',
      assignedHosts: new Map([['2.0', ['h1']], ['0.9', hosts]]),
      rollout: { id: 'web-4', target: '3.0', source: '2.0' },
    });
    expect(Object.fromEntries(p)).toEqual({
      '2.0': ['stable', 'assigned to host h1', 'source of active rollout web-4 (where it reverts to)'],
      '1.0': ['previous stable'],
      '0.9': ['assigned to 7 hosts (h1, h2, h3, h4, h5, ...)'],
      '3.0': ['target of active rollout web-4'],
    });
  });
});

describe('ArtifactGc', () => {
  it('a dry run deletes nothing; a collection deletes records and files, each app under its lock', async () => {
    const { store, push } = await newStore();
    const versions = ['1', '2', '3', '4'];
    const records = [];
    for (const v of versions) records.push(await push('web', v, await tarball(`v${v}`)));
    await push('api', '1', await tarball('api'));
    const { facts, locked } = fakeFacts({ rollout: { id: 'web-2', target: '2', source: null } });
    const gc = new ArtifactGc({ artifacts: store, facts, keepVersions: 1, intervalMs: 0, logger });

    const dry = await gc.collect({ dryRun: true });
    expect(dry.plans.flatMap((p) => p.remove.map((r) => `${r.app}@${r.version}`))).toEqual(['web@3', 'web@1']);
    expect(dry.freedBytes).toBe((records[0]?.size ?? 0) + (records[2]?.size ?? 0));
    expect((await store.list('web')).length).toBe(4);

    const done = await gc.collect({ dryRun: false });
    expect(locked).toEqual(['api', 'web', 'api', 'web']);
    expect(done.removed.map((r) => r.record.version).sort()).toEqual(['1', '3']);
    expect(done.freedBytes).toBe(dry.freedBytes);
    expect((await store.list('web')).map((a) => a.version)).toEqual(['2', '4']);
    for (const [i, r] of records.entries()) expect(await exists(store.pathOf(r.sha256)), versions[i]).toBe(i === 1 || i === 3);
  });

  it('a file two versions share stays until neither names it', async () => {
    const { store, push } = await newStore();
    const bytes = await tarball('same');
    const a = await push('web', '1', bytes);
    await push('web', '2', bytes);
    const gc = new ArtifactGc({ artifacts: store, facts: fakeFacts().facts, keepVersions: 1, intervalMs: 0, logger });
    expect((await gc.collect({ dryRun: true })).freedBytes).toBe(0);
    const first = await gc.remove('web', '1', false);
    expect(first.bytesRemoved).toBe(false);
    expect(await exists(store.pathOf(a.sha256))).toBe(true);
    const second = await gc.remove('web', '2', true);
    expect(second.bytesRemoved).toBe(true);
    expect(await exists(store.pathOf(a.sha256))).toBe(false);
  });

  it('remove refuses a protected version whatever force says, naming every reason; a recent one needs force', async () => {
    const { store, push } = await newStore();
    for (const v of ['1', '2', '3']) await push('web', v, await tarball(`v${v}`));
    const { facts } = fakeFacts({ stable: '1', previousStable: '2', assigned: { '1': ['h1', 'h2'] } });
    const gc = new ArtifactGc({ artifacts: store, facts, keepVersions: 5, intervalMs: 0, logger });
    const refused = await gc.remove('web', '1', true).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused).toMatchObject({
      message: 'web@1 is protected and cannot be removed: it is stable; assigned to hosts h1, h2',
      details: { protectedBy: ['stable', 'assigned to hosts h1, h2'] },
    });
    await expect(gc.remove('web', '2', true)).rejects.toThrow('web@2 is protected and cannot be removed: it is previous stable');
    await expect(gc.remove('web', '3', false)).rejects.toThrow(/one of the newest 5 versions of web .*pass --force/);
    expect((await gc.remove('web', '3', true)).record.version).toBe('3');
    await expect(gc.remove('web', '3', true)).rejects.toThrow(NotFoundError);
    await expect(gc.collect({ dryRun: true, app: 'api' })).rejects.toThrow('app "api" has no artifacts');
  });

  it('collects on its interval once started, and not after stop', async () => {
    vi.useFakeTimers();
    const { store, push } = await newStore();
    for (const v of ['1', '2']) await push('web', v, await tarball(`v${v}`));
    const gc = new ArtifactGc({ artifacts: store, facts: fakeFacts().facts, keepVersions: 1, intervalMs: 60_000, logger });
    gc.start();
    await vi.advanceTimersByTimeAsync(59_000);
    expect((await store.list('web')).length).toBe(2);
    await vi.advanceTimersByTimeAsync(1_000);
    await gc.stop();
    expect((await store.list('web')).map((a) => a.version)).toEqual(['2']);
    await push('web', '3', await tarball('v3'));
    await vi.advanceTimersByTimeAsync(120_000);
    expect((await store.list('web')).map((a) => a.version)).toEqual(['2', '3']);
  });
});
