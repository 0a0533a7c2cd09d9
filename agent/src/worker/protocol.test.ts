import { describe, expect, it } from 'vitest';
import { IntegrityError, UnavailableError, UnsafeArchiveError } from '@flotilla/shared';
import { isAbort, classifyFailure } from '../retry.js';
import { deserializeError, serializeError } from './protocol.js';

/** What an error looks like once it has crossed from the work thread (structured clone). */
function crossed(err: unknown): Error {
  return deserializeError(structuredClone(serializeError(err)));
}

describe('errors from the work thread', () => {
  it('keep their class, so a bad artifact is not retried and an unreachable controller is', () => {
    const bad = crossed(new IntegrityError('artifact x failed verification', { details: { expected: 'a', actual: 'b' } }));
    expect(bad).toBeInstanceOf(IntegrityError);
    expect(bad.message).toBe('artifact x failed verification');
    expect((bad as IntegrityError).details).toEqual({ expected: 'a', actual: 'b' });
    expect(classifyFailure(bad)).toBe(classifyFailure(new IntegrityError('x')));
    expect(crossed(new UnavailableError('the controller sent nothing'))).toBeInstanceOf(UnavailableError);
    expect(crossed(new UnsafeArchiveError('entry "../x" leaves the release', { details: { rule: 'path' } }))).toBeInstanceOf(UnsafeArchiveError);
  });

  it('stay aborts when the install was called off', () => {
    const abort = crossed(Object.assign(new Error('install called off'), { name: 'AbortError' }));
    expect(isAbort(abort)).toBe(true);
    expect(crossed(new Error('boom')).name).toBe('Error');
  });
});
