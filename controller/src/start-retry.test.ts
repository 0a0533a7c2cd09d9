import { describe, expect, it } from 'vitest';
import { ConfigError, UnavailableError } from '@flotilla/shared';
import { START_ATTEMPTS, startRetry } from './start-retry.js';

const timeout = () => Object.assign(new Error('timeout'), { name: 'TimeoutError' });

describe('startRetry', () => {
  it('starts again after a NATS request timed out, itself or as a cause, with growing pauses, a bounded number of times', () => {
    expect(startRetry(timeout(), 1)).toMatchObject({ retry: true, delayMs: 1000 });
    expect(startRetry(new UnavailableError('cannot open KV bucket', { cause: timeout() }), 2)).toMatchObject({ retry: true, delayMs: 2000 });
    expect(startRetry(timeout(), START_ATTEMPTS)).toMatchObject({ retry: false });
  });

  it('fails at once on anything else', () => {
    expect(startRetry(new ConfigError('bad'), 1).retry).toBe(false);
    expect(startRetry(new UnavailableError('cannot connect to NATS: ECONNREFUSED'), 1).retry).toBe(false);
    expect(startRetry('timeout', 1).retry).toBe(false);
  });
});
