import { describe, expect, it } from 'vitest';
import { liftNatsUrlCredentials, redactNatsUrl } from './nats-url.js';

describe('credentials in NATS server URLs', () => {
  it('become user and password, and the servers keep scheme, host and port', () => {
    const r = liftNatsUrlCredentials({ servers: ['nats://ctl:s3cr%40t@nats-1:4222', 'nats://nats-2:4222'] });
    expect(r).toEqual({ ok: true, settings: { servers: ['nats://nats-1:4222', 'nats://nats-2:4222'], user: 'ctl', password: 's3cr@t' } });
  });

  it('a user info without a password is a token, as NATS reads it; bare host:port works too', () => {
    expect(liftNatsUrlCredentials({ servers: ['tok3n@127.0.0.1:4222'] })).toEqual({ ok: true, settings: { servers: ['127.0.0.1:4222'], token: 'tok3n' } });
  });

  it('leave settings without URL credentials as they are', () => {
    const settings = { servers: ['nats://a:4222'], user: 'u', password: 'p' };
    expect(liftNatsUrlCredentials(settings)).toEqual({ ok: true, settings });
  });

  it('agree with the same credentials configured beside them', () => {
    expect(liftNatsUrlCredentials({ servers: ['nats://u:p@a:4222'], user: 'u', password: 'p' }).ok).toBe(true);
  });

  it('are refused when they disagree with the configured ones or between servers, and the reason holds no secret', () => {
    for (const settings of [
      { servers: ['nats://u:hunter2@a:4222'], user: 'u', password: 'p4ss-b' },
      { servers: ['nats://u:hunter2@a:4222'], token: 'tk-9' },
      { servers: ['nats://u:hunter2@a:4222', 'nats://v:hunter3@b:4222'] },
    ]) {
      const r = liftNatsUrlCredentials(settings);
      expect(r.ok).toBe(false);
      const reason = r.ok ? '' : r.reason;
      expect(reason).toMatch(/\*\*\*@a:4222/);
      expect(reason).not.toMatch(/hunter|p4ss-b|tk-9/);
    }
  });

  it('redacts what comes before the host', () => {
    expect(redactNatsUrl('nats://u:p@h:4222')).toBe('nats://***@h:4222');
    expect(redactNatsUrl('tls://h:4222')).toBe('tls://h:4222');
  });
});
