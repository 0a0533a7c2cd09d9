// The writer's step path: one signed root for the hosts that take proofs, their own signature for
// the others, compare-and-set writes against cached revisions, and re-signing for expiry.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ASSIGNMENT_TTL_MS,
  verifyAssignment,
  verifyPayload,
  type AppAssignment,
  type SignedAssignment,
} from '@flotilla/shared';
import { AssignmentWriter } from './assignments.js';
import { memoryBucket } from './store/memory-kv.js';
import { logger, publicKey, release, signingKey } from './testing/assignment-keys.js';
import { recordSchemas, type AssignmentRecord } from './store/records.js';

const web = (version: string) => (apps: Record<string, AppAssignment>) => ({ ...apps, web: release(version) });

async function setup(fence?: { n: number }) {
  let now = 1_000_000;
  const { bucket } = memoryBucket<AssignmentRecord>('flotilla_assignments', recordSchemas.assignments as never);
  const sent: { hostId: string; signed: SignedAssignment; durable: boolean }[] = [];
  const writer = await AssignmentWriter.load({
    bucket,
    signingKey,
    publisher: {
      publish: (hostId, signed) => {
        // Never before durable: what is sent is what the store holds at that moment.
        void bucket.get(hostId).then((e) => sent.push({ hostId, signed, durable: e?.value.signed.payload === signed.payload }));
      },
    },
    logger,
    now: () => now,
    ...(fence ? { fence: { fence: () => fence.n } } : {}),
  });
  const verify = (hostId: string, signed: SignedAssignment, acceptedSeq = 0) =>
    verifyAssignment(signed, { hostId, trust: { epoch: 1, keys: [publicKey] }, accepted: { epoch: 1, seq: acceptedSeq }, nowMs: now });
  return { writer, bucket, sent, verify, advance: (ms: number) => (now += ms) };
}

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `h${i}`);

describe('AssignmentWriter steps', () => {
  it('signs a step once for the hosts that announced proofs, and singly for the others', async () => {
    const t = await setup();
    const ids = hosts(6);
    for (const id of ids.slice(0, 4)) t.writer.noteAnnounce(id, true);
    t.writer.noteAnnounce('h4', false); // h5 never announced: an agent of the previous version
    await t.writer.assignMany(ids, web('2'));
    const stored = await Promise.all(ids.map(async (id) => (await t.bucket.get(id))!.value.signed));
    const withProof = stored.filter((s) => s.proof !== undefined);
    expect(withProof).toHaveLength(4);
    expect(new Set(withProof.map((s) => s.signature)).size).toBe(1);
    for (const s of stored.slice(4)) {
      expect(s.proof).toBeUndefined();
      expect(() => verifyPayload(s, [publicKey], 'assignment')).not.toThrow();
    }
    ids.forEach((id, i) => expect(t.verify(id, stored[i] as SignedAssignment).apps.web?.version).toBe('2'));
    await expect.poll(() => t.sent.length).toBe(6);
    expect(t.sent.every((s) => s.durable)).toBe(true);
  });

  it('sends a host that announced without proofs its own signature, even of a record stored with a proof', async () => {
    const t = await setup();
    t.writer.noteAnnounce('h1', true);
    await t.writer.assignMany(['h1', 'h2'], web('2'));
    expect((await t.bucket.get('h1'))!.value.signed.proof).toBeDefined();
    // The agent went back to the previous version: its announce no longer says proofs.
    t.writer.noteAnnounce('h1', false);
    const reply = await t.writer.syncReply('h1');
    expect(reply?.assignment?.proof).toBeUndefined();
    expect(() => verifyPayload(reply!.assignment!, [publicKey], 'assignment')).not.toThrow();
    expect(t.verify('h1', reply!.assignment!).seq).toBe(1);
  });

  it('keeps the proof form across a controller restart, before hosts announce again', async () => {
    const t = await setup();
    t.writer.noteAnnounce('h1', true);
    await t.writer.assignMany(['h1'], web('1'));
    const reloaded = await AssignmentWriter.load({ bucket: t.bucket, signingKey, publisher: { publish: () => undefined }, logger });
    await reloaded.assignMany(['h1'], web('2'));
    const signed = (await t.bucket.get('h1'))!.value.signed;
    expect(signed.proof).toBeDefined();
    expect(t.verify('h1', signed, 1).seq).toBe(2);
  });

  it('writes above a record another controller wrote since it was cached (one compare-and-set per host)', async () => {
    const t = await setup();
    await t.writer.assignMany(['h1', 'h2'], web('1'));
    // Another writer moves h1 on behind this controller's cache.
    const other = await AssignmentWriter.load({ bucket: t.bucket, signingKey, publisher: { publish: () => undefined }, logger });
    await other.assign('h1', (apps) => ({ ...apps, api: release('7') }));
    const results = await t.writer.assignMany(['h1', 'h2'], web('2'));
    expect(results.map((r) => r.seq)).toEqual([3, 2]);
    const h1 = t.verify('h1', (await t.bucket.get('h1'))!.value.signed, 2);
    expect(Object.fromEntries(Object.entries(h1.apps).map(([a, x]) => [a, x.version]))).toEqual({ api: '7', web: '2' });
  });

  it('does not take a host for unchanged on a cached record the store has moved past', async () => {
    const t = await setup();
    await t.writer.assignMany(['h1'], web('1'));
    const other = await AssignmentWriter.load({ bucket: t.bucket, signingKey, publisher: { publish: () => undefined }, logger });
    await other.assign('h1', web('2'));
    const [r] = await t.writer.assignMany(['h1'], web('1'));
    expect(r).toMatchObject({ changed: true, seq: 3 });
    expect(t.verify('h1', (await t.bucket.get('h1'))!.value.signed, 2).apps.web?.version).toBe('1');
  });

  it('refuses a host whose record a newer leader wrote, though its cached record says otherwise', async () => {
    const fence = { n: 3 };
    const t = await setup(fence);
    await t.writer.assignMany(['h1', 'h2'], web('1'));
    const newer = await AssignmentWriter.load({ bucket: t.bucket, signingKey, publisher: { publish: () => undefined }, logger, fence: { fence: () => 4 } });
    await newer.assign('h1', web('9'));
    const err = await t.writer.assignMany(['h1', 'h2'], web('2')).catch((e: unknown) => e as Error & { details: { failed: string[] } });
    expect(err).toBeInstanceOf(Error);
    expect(err?.details.failed).toEqual(['h1']);
    expect((await t.bucket.get('h1'))!.value.fence).toBe(4);
    expect(t.verify('h1', (await t.bucket.get('h1'))!.value.signed).apps.web?.version).toBe('9');
    expect((await t.bucket.get('h2'))!.value.seq).toBe(2);
  });

  it('re-signs every due host in one batch: a new seq and expiry each, one root for the proof hosts', async () => {
    const t = await setup();
    const ids = hosts(20);
    for (const id of ids) t.writer.noteAnnounce(id, true);
    await t.writer.assignMany(ids, web('1'));
    expect(await t.writer.refreshDue()).toEqual({ due: 0, failed: 0 });
    t.advance(Math.ceil(DEFAULT_ASSIGNMENT_TTL_MS * 0.76));
    expect(await t.writer.refreshDue()).toEqual({ due: 20, failed: 0 });
    const stored = await Promise.all(ids.map(async (id) => (await t.bucket.get(id))!.value.signed));
    expect(new Set(stored.map((s) => s.signature)).size).toBe(1);
    ids.forEach((id, i) => {
      const a = t.verify(id, stored[i] as SignedAssignment, 1);
      expect(a.seq).toBe(2);
      expect(a.apps.web?.version).toBe('1');
    });
    expect(await t.writer.refreshDue()).toEqual({ due: 0, failed: 0 });
  });
});
