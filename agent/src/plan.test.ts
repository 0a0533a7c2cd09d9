import { describe, expect, it } from 'vitest';
import { IntegrityError, ManifestError, SignatureError, UnavailableError, UnsafeArchiveError } from '@flotilla/shared';
import { decideApp, nextRetryMs, protectedVersions, type AppFacts } from './plan.js';
import { HookFailedError, RETRY_DELAYS_MS, classifyFailure, describeFailure, isAbort, recordFailure, retryDelayMs, retryNow } from './retry.js';

const base: AppFacts = {
  desiredVersion: '2.0.0',
  activeVersion: '1.0.0',
  supervised: true,
  failure: undefined,
  unfinished: false,
  nowMs: 1_000_000,
};

describe('decideApp', () => {
  it('keeps an app whose desired version is active and supervised', () => {
    expect(decideApp({ ...base, activeVersion: '2.0.0' })).toEqual({ kind: 'keep' });
  });

  it('starts the active version when nothing supervises it', () => {
    expect(decideApp({ ...base, activeVersion: '2.0.0', supervised: false })).toEqual({ kind: 'start' });
  });

  it('installs another version', () => {
    expect(decideApp(base)).toEqual({ kind: 'install' });
    expect(decideApp({ ...base, activeVersion: null, supervised: false })).toEqual({ kind: 'install' });
  });

  it('stops an app that is no longer assigned, and leaves a stopped one alone', () => {
    expect(decideApp({ ...base, desiredVersion: null })).toEqual({ kind: 'stop' });
    expect(decideApp({ ...base, desiredVersion: null, supervised: false })).toEqual({ kind: 'keep' });
  });

  it('does not retry a permanent failure of the same version', () => {
    const failure = recordFailure(undefined, '2.0.0', new SignatureError('bad'), 'bad', base.nowMs);
    expect(decideApp({ ...base, failure, nowMs: base.nowMs + 3_600_000 })).toEqual({ kind: 'failed' });
  });

  it('waits out the back-off of a transient failure, then retries', () => {
    const failure = recordFailure(undefined, '2.0.0', new UnavailableError('down'), 'down', base.nowMs);
    expect(decideApp({ ...base, failure })).toEqual({ kind: 'wait', untilMs: base.nowMs + 5_000 });
    expect(decideApp({ ...base, failure, nowMs: base.nowMs + 5_000 })).toEqual({ kind: 'install' });
  });

  it('ignores a failure of another version', () => {
    const failure = recordFailure(undefined, '1.5.0', new SignatureError('bad'), 'bad', base.nowMs);
    expect(decideApp({ ...base, failure })).toEqual({ kind: 'install' });
  });

  it('does not restart in a loop an active version that failed to start for good', () => {
    const failure = recordFailure(undefined, '2.0.0', new ManifestError('bad'), 'bad', base.nowMs);
    expect(decideApp({ ...base, activeVersion: '2.0.0', supervised: false, failure })).toEqual({ kind: 'failed' });
  });
});

describe('an unfinished install', () => {
  it('resumes even when the version is active and runs (a crash after the switch)', () => {
    expect(decideApp({ ...base, activeVersion: '2.0.0', unfinished: true })).toEqual({ kind: 'install' });
    expect(decideApp({ ...base, activeVersion: '2.0.0', supervised: false, unfinished: true })).toEqual({ kind: 'install' });
  });

  it('still waits for its back-off after a transient failure', () => {
    const failure = recordFailure(undefined, '2.0.0', new UnavailableError('down'), 'down', base.nowMs);
    expect(decideApp({ ...base, activeVersion: '2.0.0', unfinished: true, failure })).toEqual({
      kind: 'wait',
      untilMs: base.nowMs + 5_000,
    });
  });
});

describe('protectedVersions', () => {
  it('keeps current, previous and stable, once each', () => {
    expect(protectedVersions('2.0.0', '1.0.0', '1.0.0', null, undefined, '')).toEqual(['2.0.0', '1.0.0']);
  });
});

describe('nextRetryMs', () => {
  const down = new UnavailableError('down');
  it('is the earliest retry among transient failures of versions still wanted', () => {
    const failures = new Map([
      ['web', recordFailure(undefined, '2.0.0', down, 'down', 100)],
      ['api', recordFailure(undefined, '1.0.0', down, 'down', 50)],
      ['db', recordFailure(undefined, '3.0.0', new SignatureError('bad'), 'bad', 0)],
    ]);
    expect(nextRetryMs(failures, () => null)).toBeNull();
    expect(nextRetryMs(failures, (app) => ({ web: '2.0.0', api: '1.0.0', db: '3.0.0' })[app] ?? null)).toBe(5_050);
    // api now wants another version: its old failure no longer schedules anything.
    expect(nextRetryMs(failures, (app) => ({ web: '2.0.0', api: '1.1.0' })[app] ?? null)).toBe(5_100);
  });
});

describe('retryNow and describeFailure', () => {
  it('makes a transient failure due at once and keeps its attempt count', () => {
    const f = recordFailure(recordFailure(undefined, '2.0.0', new UnavailableError('x'), 'x', 0), '2.0.0', new UnavailableError('x'), 'x', 10);
    expect(retryNow(f, 20)).toEqual({ ...f, retryAtMs: 20 });
    const p = recordFailure(undefined, '2.0.0', new SignatureError('bad'), 'bad', 0);
    expect(retryNow(p, 20)).toBe(p);
  });

  it('names the absolute retry time, which stays true in later reports', () => {
    const f = recordFailure(undefined, '2.0.0', new UnavailableError('unreachable'), 'unreachable', Date.UTC(2026, 0, 1));
    expect(describeFailure(f, Date.UTC(2026, 0, 1))).toBe('attempt 1 failed; retrying at 2026-01-01T00:00:05.000Z: unreachable');
    expect(describeFailure(f, Date.UTC(2026, 0, 1, 0, 0, 6))).toBe('attempt 1 failed; retrying now: unreachable');
    expect(describeFailure(recordFailure(undefined, '2.0.0', new SignatureError('bad'), 'bad', 0), 0)).toBe('bad');
  });
});

describe('retry policy', () => {
  it('classifies what a retry cannot fix as permanent', () => {
    for (const err of [
      new SignatureError('x'),
      new IntegrityError('x'),
      new UnsafeArchiveError('x'),
      new ManifestError('x'),
      new HookFailedError('x'),
    ]) {
      expect(classifyFailure(err)).toBe('permanent');
    }
    expect(classifyFailure(new UnavailableError('x'))).toBe('transient');
    expect(classifyFailure(new Error('ENOSPC'))).toBe('transient');
  });

  it('backs off 5s, 30s, 2m, then 10m for good', () => {
    expect([1, 2, 3, 4, 5, 10].map((n) => retryDelayMs(n))).toEqual([5_000, 30_000, 120_000, 600_000, 600_000, 600_000]);
    expect(RETRY_DELAYS_MS.at(-1)).toBe(600_000);
  });

  it('counts failures of the same version and starts over for another', () => {
    const first = recordFailure(undefined, '2.0.0', new UnavailableError('x'), 'x', 0);
    const second = recordFailure(first, '2.0.0', new UnavailableError('x'), 'x', 100);
    expect(second.attempts).toBe(2);
    expect(second.retryAtMs).toBe(100 + 30_000);
    const other = recordFailure(second, '3.0.0', new UnavailableError('x'), 'x', 200);
    expect(other.attempts).toBe(1);
    const permanent = recordFailure(undefined, '2.0.0', new UnsafeArchiveError('x'), 'x', 0);
    expect(permanent.retryAtMs).toBeNull();
  });

  it('recognises an abort', () => {
    const ac = new AbortController();
    expect(isAbort(new Error('x'), ac.signal)).toBe(false);
    ac.abort();
    expect(isAbort(new Error('x'), ac.signal)).toBe(true);
    expect(isAbort(Object.assign(new Error('x'), { name: 'AbortError' }))).toBe(true);
  });
});
