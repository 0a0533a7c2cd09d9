import { describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/shared';
import type { AppEventRecord } from './rollouts/records.js';
import { StoreBehindLog, storeBehindEvents } from './store-behind-log.js';
import { compareWithRecord, type StoreBehindFinding } from './store-behind.js';

describe('compareWithRecord', () => {
  const record = { seq: 5, versions: { web: '2.0.0' } };

  it('is in step when the host holds the recorded seq and versions', () => {
    expect(compareWithRecord(record, { acceptedSeq: 5, desiredVersions: { web: '2.0.0' } })).toBe('in-step');
    expect(compareWithRecord({ seq: 0, versions: {} }, { acceptedSeq: 0, desiredVersions: { web: null } })).toBe('in-step');
  });

  it('is catching up when the host is below the record', () => {
    expect(compareWithRecord(record, { acceptedSeq: 4, desiredVersions: { web: '1.0.0' } })).toBe('catching-up');
  });

  it('is ahead when the host accepted a seq the store has no record of', () => {
    expect(compareWithRecord(record, { acceptedSeq: 6, desiredVersions: { web: '3.0.0' } })).toBe('ahead');
  });

  it('has diverged when the same seq names other versions on the host', () => {
    expect(compareWithRecord(record, { acceptedSeq: 5, desiredVersions: { web: '3.0.0' } })).toBe('diverged');
    expect(compareWithRecord(record, { acceptedSeq: 5, desiredVersions: { web: '2.0.0', api: '1.0' } })).toBe('diverged');
  });
});

describe('storeBehindEvents', () => {
  const finding = (hostId: string, reissued: boolean): StoreBehindFinding => ({
    hostId,
    acceptedSeq: 3,
    recordSeq: 2,
    comparison: 'ahead',
    recordVersions: { web: '1.0.0' },
    hostVersions: { web: '2.0.0', api: null },
    reissued,
  });

  it('writes one event per app, naming hosts, seqs and versions, counting re-issued hosts', () => {
    const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'];
    const events = storeBehindEvents(hosts.map((h, i) => finding(h, i === 0)), 42);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      app: 'web',
      kind: 'reconcile',
      action: 'store-behind',
      atMs: 42,
      fromVersion: '1.0.0',
      toVersion: '2.0.0',
      hosts: 1,
      summary: { hosts: 7, reissued: 1, ahead: 7 },
    });
    expect(events[0]?.message).toMatch(/^h1 holds seq 3 with web@2\.0\.0, the record seq 2 with web@1\.0\.0; h2 /);
    expect(events[0]?.message).toMatch(/\(and 2 more\)\. Their next assignments go above the seqs they hold; 1 given/);
  });

  it('writes nothing for hosts with no app on either side', () => {
    expect(storeBehindEvents([{ ...finding('h1', false), recordVersions: {}, hostVersions: { web: null } }], 0)).toEqual([]);
  });
});

describe('StoreBehindLog', () => {
  const logger = createLogger({ name: 'test', level: 'silent' });
  const finding = (hostId: string): StoreBehindFinding => ({
    hostId,
    acceptedSeq: 3,
    recordSeq: 2,
    comparison: 'ahead',
    recordVersions: { web: '1.0.0' },
    hostVersions: { web: '2.0.0' },
    reissued: false,
  });

  it('gathers the findings of one window into one event per app', async () => {
    const written: Omit<AppEventRecord, 'id'>[] = [];
    const log = new StoreBehindLog({
      events: { appendEvent: async (e) => (written.push(e), { ...e, id: 'web-e1' }) },
      logger,
      now: () => 7,
      windowMs: 60_000,
    });
    log.note(finding('h1'));
    log.note(finding('h2'));
    expect(written).toEqual([]); // still inside the window
    await log.stop();
    expect(written.map((e) => [e.app, e.summary.hosts, e.atMs])).toEqual([['web', 2, 7]]);
  });

  it('survives an event log it cannot write to', async () => {
    const log = new StoreBehindLog({
      events: { appendEvent: () => Promise.reject(new Error('KV down')) },
      logger,
      now: () => 0,
    });
    log.note(finding('h1'));
    await expect(log.stop()).resolves.toBeUndefined();
  });
});
