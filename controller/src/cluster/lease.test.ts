import { describe, expect, it } from 'vitest';
import { createLogger, generateKeyPairPem, parsePrivateKey, type AppAssignment } from '@flotilla/shared';
import { AssignmentWriter } from '../assignments.js';
import { memoryBucket } from '../store/memory-kv.js';
import { recordSchemas, type AssignmentRecord } from '../store/records.js';
import { actUntil, leaseRound, leaseSettingsProblem, type LeaseMemory } from './lease.js';

const settings = { leaseMs: 10_000, renewMs: 3_000, marginMs: 2_000 };
const idle: LeaseMemory = { watching: null, actUntilMs: null };

describe('leaseRound', () => {
  it('creates the lease when nobody ever led, and renews its own', () => {
    expect(leaseRound(null, idle, 'a', 0, settings)).toEqual({ kind: 'create' });
    const leading = { watching: null, actUntilMs: 8_000 };
    expect(leaseRound({ holder: 'a', fence: 4, revision: 9 }, leading, 'a', 3_000, settings)).toEqual({ kind: 'renew', revision: 9, fence: 4 });
  });

  it('takes a released lease at once, with the next fencing number', () => {
    expect(leaseRound({ holder: null, fence: 4, revision: 9 }, idle, 'b', 0, settings)).toEqual({ kind: 'take', revision: 9, fence: 5 });
  });

  it('takes a held lease only after the same revision has stood a whole lease by its own clock', () => {
    const view = { holder: 'a', fence: 4, revision: 9 };
    const first = leaseRound(view, idle, 'b', 100, settings);
    expect(first).toEqual({ kind: 'wait', memory: { watching: { revision: 9, sinceMs: 100 }, actUntilMs: null } });
    const memory = (first as { memory: LeaseMemory }).memory;
    expect(leaseRound(view, memory, 'b', 10_099, settings).kind).toBe('wait');
    expect(leaseRound(view, memory, 'b', 10_100, settings)).toEqual({ kind: 'take', revision: 9, fence: 5 });
    // A renewal (a new revision) starts the count again.
    const renewed = leaseRound({ ...view, revision: 10 }, memory, 'b', 10_100, settings);
    expect(renewed).toEqual({ kind: 'wait', memory: { watching: { revision: 10, sinceMs: 10_100 }, actUntilMs: null } });
  });

  it('has a holder stop acting a margin before any candidate may take over', () => {
    // The holder's renewal was sent at 0; a candidate reads its revision no earlier than that.
    const holderStops = actUntil(0, settings);
    const candidateTakes = 0 + settings.leaseMs;
    expect(candidateTakes - holderStops).toBe(settings.marginMs);
  });

  it("takes over at once from this data dir's controller before a restart", () => {
    expect(leaseRound({ holder: 'a', fence: 4, revision: 9 }, idle, 'a', 0, settings)).toEqual({ kind: 'take', revision: 9, fence: 5 });
  });

  it('refuses settings whose renewals do not fit well inside the lease', () => {
    expect(leaseSettingsProblem(settings)).toBeNull();
    expect(leaseSettingsProblem({ leaseMs: 10_000, renewMs: 5_000, marginMs: 2_000 })).toMatch(/renewInterval/);
    expect(leaseSettingsProblem({ leaseMs: 10_000, renewMs: 1_000, marginMs: 0 })).toMatch(/margin/);
  });
});

describe('assignment fencing', () => {
  const logger = createLogger({ name: 'test', level: 'silent' });
  const signingKey = parsePrivateKey(generateKeyPairPem().privateKeyPem, 'controller.key');
  const release = (version: string): AppAssignment => ({ version, release: { payload: `{"version":"${version}"}`, keyId: 'k', signature: 's' } });

  it('refuses a write under an older fencing number once a newer leader wrote the host, and sends nothing', async () => {
    const { bucket } = memoryBucket<AssignmentRecord>('flotilla_assignments', recordSchemas.assignments as never);
    let fence = 3;
    const sent: string[] = [];
    const writer = (f: () => number) =>
      AssignmentWriter.load({ bucket, signingKey, publisher: { publish: (h) => sent.push(h) }, logger, fence: { fence: f } });
    const newer = await writer(() => 4);
    const older = await writer(() => fence);
    await newer.assign('h1', () => ({ web: release('2') }));
    expect((await bucket.get('h1'))?.value.fence).toBe(4);
    await expect(older.assign('h1', () => ({ web: release('1') }))).rejects.toThrow(/newer leader/);
    expect((await bucket.get('h1'))?.value.seq).toBe(1);
    expect(sent).toEqual(['h1']);
    fence = 5;
    await older.assign('h1', () => ({ web: release('3') }));
    expect((await bucket.get('h1'))?.value).toMatchObject({ seq: 2, fence: 5 });
  });

  it('writes nothing on a controller that is not leading', async () => {
    const { bucket } = memoryBucket<AssignmentRecord>('flotilla_assignments', recordSchemas.assignments as never);
    const writer = await AssignmentWriter.load({
      bucket,
      signingKey,
      publisher: { publish: () => undefined },
      logger,
      fence: {
        fence: () => {
          throw new Error('not the leader');
        },
      },
    });
    await expect(writer.assign('h1', () => ({ web: release('1') }))).rejects.toThrow(/not the leader/);
    expect(await bucket.get('h1')).toBeNull();
  });
});
