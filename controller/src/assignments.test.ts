import { describe, expect, it } from 'vitest';
import {
  verifyAssignment,
  type SignedAssignment,
} from '@flotilla/shared';
import { AssignmentWriter, MIN_BASIS_RESEND_GAP_MS, NO_TRUST, buildAssignment, checkAssignable, refreshDueAtMs, type AssignmentTrust } from './assignments.js';
import { memoryBucket } from './store/memory-kv.js';
import { logger, publicKey, release, signingKey } from './testing/assignment-keys.js';
import { recordSchemas, type AssignmentRecord } from './store/records.js';



describe('buildAssignment', () => {
  it('numbers the next assignment one above the last and holds the whole desired state', () => {
    const a = buildAssignment({ hostId: 'h1', previousSeq: 4, apps: { web: release('2'), api: release('7') }, nowMs: 42 });
    expect(a).toMatchObject({ type: 'flotilla.assignment/v1', hostId: 'h1', seq: 5, issuedAtMs: 42 });
    expect(Object.keys(a.apps)).toEqual(['api', 'web']);
  });

  it('goes above a seq the host reports having accepted', () => {
    expect(buildAssignment({ hostId: 'h1', previousSeq: 2, seqFloor: 9, apps: {}, nowMs: 0 }).seq).toBe(10);
    expect(buildAssignment({ hostId: 'h1', previousSeq: 0, apps: {}, nowMs: 0 }).seq).toBe(1);
  });

  it('keeps stableVersion only when there is one', () => {
    const a = buildAssignment({
      hostId: 'h1',
      previousSeq: 0,
      apps: { web: { ...release('2'), stableVersion: '1' }, api: release('3') },
      nowMs: 0,
    });
    expect(a.apps.web?.stableVersion).toBe('1');
    expect('stableVersion' in (a.apps.api as object)).toBe(false);
  });

  it('carries a traffic step, and nothing about traffic when there is none', () => {
    const a = buildAssignment({
      hostId: 'h1',
      previousSeq: 0,
      apps: { web: { ...release('2'), traffic: { weight: 10 } }, api: { ...release('3'), traffic: { weight: 100, retire: true } }, db: release('4') },
      nowMs: 0,
    });
    expect(a.apps.web?.traffic).toEqual({ weight: 10 });
    expect(a.apps.api?.traffic).toEqual({ weight: 100, retire: true });
    expect('traffic' in (a.apps.db as object)).toBe(false);
  });
});

const HOUR = 3_600_000;
const trustWith = (over: Partial<AssignmentTrust> = {}): AssignmentTrust => ({ ...NO_TRUST, ...over });

describe('refreshDueAtMs', () => {
  it('falls between half and three quarters of the life, at a fixed place per host, spread over hosts', () => {
    const trust = trustWith();
    const a = buildAssignment({ hostId: 'h1', previousSeq: 0, apps: { web: release('2') }, nowMs: 0, ttlMs: 24 * HOUR, trust });
    const dues = Array.from({ length: 200 }, (_, i) => refreshDueAtMs({ ...a, hostId: `h${i}` }, `h${i}`, 24 * HOUR, trust));
    for (const d of dues) {
      expect(d).toBeGreaterThanOrEqual(12 * HOUR);
      expect(d).toBeLessThan(18 * HOUR);
    }
    expect(refreshDueAtMs(a, 'h1', 24 * HOUR, trust)).toBe(dues[1]);
    // Spread: the hosts do not bunch in one hour of the six.
    expect(new Set(dues.map((d) => Math.floor(d / HOUR))).size).toBe(6);
  });

  it('is due at once for an older key epoch, no expiry, or other release documents than now', () => {
    const a = buildAssignment({ hostId: 'h1', previousSeq: 0, apps: { web: release('2') }, nowMs: 0, trust: trustWith() });
    expect(refreshDueAtMs(a, 'h1', 24 * HOUR, trustWith({ keyEpoch: 2 }))).toBe(0);
    const { expiresAtMs: _e, ...noExpiry } = a;
    expect(refreshDueAtMs(noExpiry, 'h1', 24 * HOUR, trustWith())).toBe(0);
    const policy = { payload: 'p', keyId: 'k', signature: 'x' };
    expect(refreshDueAtMs(a, 'h1', 24 * HOUR, trustWith({ policies: new Map([['web', policy]]) }))).toBe(0);
  });
});

describe('checkAssignable', () => {
  it('refuses a newly assigned revoked version or revoked key, and lets one already assigned stay', () => {
    const trust = trustWith({ revokedVersions: new Map([['web', new Set(['2'])]]), revokedKeyIds: ['bad'] });
    expect(() => checkAssignable({}, { web: release('2') }, trust)).toThrow(/revoked by the app's signed policy/);
    expect(() => checkAssignable({ web: release('2') }, { web: release('2') }, trust)).not.toThrow();
    const byBadKey = { version: '3', release: { payload: '{}', keyId: 'bad', signature: 's' } };
    expect(() => checkAssignable({}, { web: byBadKey }, trust)).toThrow(/revoked release key bad/);
  });
});

async function setup() {
  let now = 1000;
  const { bucket, kv } = memoryBucket<AssignmentRecord>('flotilla_assignments', recordSchemas.assignments as never);
  const sent: { hostId: string; signed: SignedAssignment }[] = [];
  const writer = await AssignmentWriter.load({
    bucket,
    signingKey,
    publisher: { publish: (hostId, signed) => sent.push({ hostId, signed }) },
    logger,
    now: () => now,
  });
  return { writer, bucket, kv, sent, advance: (ms: number) => (now += ms) };
}

describe('AssignmentWriter', () => {
  it('writes signed assignments with growing seqs, keeps other apps, and publishes after writing', async () => {
    const t = await setup();
    const r1 = await t.writer.assign('h1', (apps) => ({ ...apps, web: release('1') }));
    const r2 = await t.writer.assign('h1', (apps) => ({ ...apps, api: release('5') }));
    const r3 = await t.writer.assign('h1', (apps) => ({ ...apps, web: release('2') }));
    expect([r1.seq, r2.seq, r3.seq]).toEqual([1, 2, 3]);
    expect(r3.changed).toBe(true);

    const stored = await t.bucket.get('h1');
    expect(stored?.value.seq).toBe(3);
    const verified = verifyAssignment(stored!.value.signed, { hostId: 'h1', trust: { epoch: 1, keys: [publicKey] }, accepted: { epoch: 1, seq: 2 }, nowMs: t.advance(0) });
    expect(verified.apps.web?.version).toBe('2');
    expect(verified.apps.api?.version).toBe('5');

    expect(t.sent.map((s) => s.hostId)).toEqual(['h1', 'h1', 'h1']);
    expect(t.sent[2]?.signed).toEqual(stored?.value.signed);
  });

  it('writes and sends nothing when the apps do not change', async () => {
    const t = await setup();
    await t.writer.assign('h1', () => ({ web: release('1') }));
    const writes = t.kv.writes;
    const again = await t.writer.assign('h1', (apps) => ({ ...apps, web: release('1') }));
    expect(again).toMatchObject({ changed: false, seq: 1 });
    expect(t.kv.writes).toBe(writes);
    expect(t.sent).toHaveLength(1);
  });

  it('assigns many hosts, each with its own seq', async () => {
    const t = await setup();
    await t.writer.assign('h2', () => ({ api: release('1') }));
    const results = await t.writer.assignMany(['h1', 'h2', 'h3'], (apps) => ({ ...apps, web: release('1') }));
    expect(results.map((r) => [r.hostId, r.seq])).toEqual([
      ['h1', 1],
      ['h2', 2],
      ['h3', 1],
    ]);
    expect(Object.keys(t.writer.current('h2')?.assignment.apps ?? {}).sort()).toEqual(['api', 'web']);
  });

  it('re-sends to a host behind, at most once per heartbeat interval', async () => {
    const t = await setup();
    await t.writer.assign('h1', () => ({ web: release('1') }));
    expect(t.sent).toHaveLength(1);
    t.writer.noteAcceptedSeq('h1', 0, 200); // right after the publish: wait
    expect(t.sent).toHaveLength(1);
    t.advance(200);
    t.writer.noteAcceptedSeq('h1', 0, 200);
    t.writer.noteAcceptedSeq('h1', 0, 200);
    expect(t.sent).toHaveLength(2);
    t.advance(200);
    t.writer.noteAcceptedSeq('h1', 1, 200); // caught up
    expect(t.sent).toHaveLength(2);
  });

  it('re-sends for heartbeat ticks without basis once per gap, however many arrive, and nothing to a host without an assignment', async () => {
    const t = await setup();
    expect(t.writer.resendForBasis('h1', 200)).toBe(false); // nothing to send yet
    await t.writer.assign('h1', () => ({ web: release('1') }));
    expect(t.sent).toHaveLength(1);
    t.advance(MIN_BASIS_RESEND_GAP_MS);
    // A flood: one re-send, and none until the gap has passed, though the host claims 200 ms beats.
    let sent = 0;
    for (let i = 0; i < 1000; i++) if (t.writer.resendForBasis('h1', 200)) sent++;
    expect(sent).toBe(1);
    expect(t.sent).toHaveLength(2);
    expect(t.sent[1]?.signed.payload).toBe(t.sent[0]?.signed.payload);
    t.advance(MIN_BASIS_RESEND_GAP_MS - 1);
    expect(t.writer.resendForBasis('h1', 200)).toBe(false);
    t.advance(1);
    expect(t.writer.resendForBasis('h1', 200)).toBe(true);
    // A longer stated interval is the gap.
    t.advance(MIN_BASIS_RESEND_GAP_MS);
    expect(t.writer.resendForBasis('h1', 5000)).toBe(false);
    t.advance(5000);
    expect(t.writer.resendForBasis('h1', 5000)).toBe(true);
    expect(t.writer.resendForBasis('h2', 200)).toBe(false);
    expect(t.sent.map((m) => m.hostId)).toEqual(['h1', 'h1', 'h1', 'h1']);
  });

  it('goes above a seq the host accepted beyond the controller record', async () => {
    const t = await setup();
    t.writer.noteAcceptedSeq('h1', 7, 200);
    expect((await t.writer.assign('h1', () => ({ web: release('1') }))).seq).toBe(8);
  });

  it('issues its own assignment again above a seq a host holds other versions under (a store that went back in time)', async () => {
    const t = await setup();
    // The store lost seq 1 (web 1); this controller hands out seq 1 again for web 2, which the host ignores.
    await t.writer.assign('h1', () => ({ web: release('2') }));
    expect(t.writer.noteAcceptedSeq('h1', 1, 200, { web: '1' })).toBeUndefined(); // once may be a report racing an accept
    const finding = t.writer.noteAcceptedSeq('h1', 1, 200, { web: '1' });
    expect(finding).toMatchObject({ hostId: 'h1', acceptedSeq: 1, recordSeq: 1, comparison: 'diverged', reissued: true });
    await expect.poll(() => t.writer.current('h1')?.record.seq).toBe(2);
    const last = t.sent[t.sent.length - 1];
    expect(verifyAssignment(last?.signed as SignedAssignment, { hostId: 'h1', trust: { epoch: 1, keys: [publicKey] }, accepted: { epoch: 1, seq: 1 }, nowMs: t.advance(0) }).apps.web?.version).toBe('2');
    expect(t.writer.noteAcceptedSeq('h1', 2, 200, { web: '2' })).toBeUndefined();
  });

  it('does not push a record read from the store to a host ahead of it, but goes above the host next time', async () => {
    const t = await setup();
    await t.writer.assign('h1', () => ({ web: release('1') }));
    // A controller restarted on that store: the record is read, not written by it.
    const reloaded = await AssignmentWriter.load({ bucket: t.bucket, signingKey, publisher: { publish: () => undefined }, logger });
    const finding = reloaded.noteAcceptedSeq('h1', 4, 200, { web: '3' });
    expect(finding).toMatchObject({ comparison: 'ahead', recordSeq: 1, recordVersions: { web: '1' }, hostVersions: { web: '3' }, reissued: false });
    expect(reloaded.noteAcceptedSeq('h1', 4, 200, { web: '3' })).toBeUndefined(); // found once
    expect(reloaded.current('h1')?.record.seq).toBe(1);
    expect((await reloaded.assign('h1', () => ({ web: release('5') }))).seq).toBe(5);
  });

  it('answers sync with the stored assignment, or null when there is none', async () => {
    const t = await setup();
    expect(await t.writer.syncReply('h1')).toEqual({ type: 'sync-reply', assignment: null });
    await t.writer.assign('h1', () => ({ web: release('1') }));
    const reply = await t.writer.syncReply('h1');
    expect(reply?.assignment).toEqual((await t.bucket.get('h1'))?.value.signed);
  });

  it('loads the current assignments at start, so seqs continue after a restart', async () => {
    const t = await setup();
    await t.writer.assign('h1', () => ({ web: release('1') }));
    const reloaded = await AssignmentWriter.load({
      bucket: t.bucket,
      signingKey,
      publisher: { publish: () => undefined },
      logger,
    });
    expect(reloaded.current('h1')?.record.seq).toBe(1);
    expect((await reloaded.assign('h1', (apps) => ({ ...apps, web: release('2') }))).seq).toBe(2);
  });
});
