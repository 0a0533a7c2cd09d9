import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { UnauthenticatedError } from '@flotilla/shared';
import { bearerTokenCheck } from './auth.js';

function withHeader(value?: string): Metadata {
  const m = new Metadata();
  if (value !== undefined) m.set('authorization', value);
  return m;
}

describe('bearerTokenCheck', () => {
  it('lets every call through when no token is configured', () => {
    expect(() => bearerTokenCheck(undefined)(withHeader())).not.toThrow();
  });

  it('accepts the right token and refuses a missing, malformed or wrong one', () => {
    const check = bearerTokenCheck('correct-horse');
    expect(() => check(withHeader('Bearer correct-horse'))).not.toThrow();
    expect(() => check(withHeader('bearer correct-horse'))).not.toThrow();
    expect(() => check(withHeader())).toThrow(/requires an API token/);
    expect(() => check(withHeader('correct-horse'))).toThrow(UnauthenticatedError);
    expect(() => check(withHeader('Bearer correct-hors'))).toThrow(/not valid/);
    expect(() => check(withHeader('Bearer correct-horse-battery'))).toThrow(/not valid/);
  });
});
