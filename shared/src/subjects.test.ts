import { describe, expect, it } from 'vitest';
import { hostInboxPrefix, isHostInbox, subjects } from './subjects.js';

describe('subjects', () => {
  it('reads the host id back from the subjects it builds, and from nothing else', () => {
    const s = subjects('acme');
    expect(s.hostIdOf(s.heartbeat('web-01'))).toBe('web-01');
    expect(s.hostIdOf(s.announce('h'))).toBe('h');
    expect(s.hostIdOf(s.sync('sim-00042'))).toBe('sim-00042');
    for (const subject of [
      'acme.v1.heartbeat',
      'acme.v1.heartbeat.a.b',
      'acme.v2.heartbeat.h',
      'flotilla.v1.heartbeat.h',
      'acme.v1',
      'acme.v1.',
      'acmev1.heartbeat.h',
      '',
    ]) {
      expect(s.hostIdOf(subject), subject).toBeUndefined();
    }
    // Empty tokens are not subjects NATS delivers; what comes back is simply what is there.
    expect(s.hostIdOf('acme.v1.heartbeat.')).toBe('');
    expect(s.hostIdOf('acme.v1..h')).toBe('h');
  });

  it('accepts a reply subject only inside the host\'s own inbox', () => {
    expect(hostInboxPrefix('web-01')).toBe('_INBOX_web-01');
    expect(isHostInbox('_INBOX_web-01.abc.1', 'web-01')).toBe(true);
    for (const reply of [
      '_INBOX_web-01',
      '_INBOX_web-01.',
      '_INBOX_web-02.abc',
      '_INBOX_web-011.abc',
      '_INBOX.abc',
      '$JS.API.STREAM.PURGE.KV_flotilla_artifacts',
      '$KV.flotilla_apps.web',
      'flotilla.v1.assign.web-01',
      '_INBOX_web-01.>',
      '_INBOX_web-01.*',
    ]) {
      expect(isHostInbox(reply, 'web-01'), reply).toBe(false);
    }
  });
});
