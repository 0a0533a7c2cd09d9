import { describe, expect, it } from 'vitest';
import { DEFAULT_APP_USER, chooseAppUser, parsePasswdLine } from './app-user.js';

describe('app users', () => {
  it('an app runs as its runAs, else appUser, else flotilla-app under a root agent', () => {
    const none = { runAppsAsAgent: false };
    expect(chooseAppUser({ ...none, runAs: 'web', appUser: 'apps' }, true)).toEqual({ kind: 'user', name: 'web' });
    expect(chooseAppUser({ ...none, appUser: 'apps' }, false)).toEqual({ kind: 'user', name: 'apps' });
    expect(chooseAppUser(none, true)).toEqual({ kind: 'user', name: DEFAULT_APP_USER });
  });

  it("shares the agent's user only when nothing else is possible or it is asked for", () => {
    expect(chooseAppUser({ runAppsAsAgent: false }, false)).toMatchObject({ kind: 'agent', why: expect.stringContaining('not run as root') });
    expect(chooseAppUser({ runAppsAsAgent: true, appUser: 'apps' }, true)).toMatchObject({ kind: 'agent' });
    // An app's own runAs is explicit and wins even then.
    expect(chooseAppUser({ runAppsAsAgent: true, runAs: 'web' }, true)).toEqual({ kind: 'user', name: 'web' });
  });

  it('reads password database lines', () => {
    expect(parsePasswdLine('nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n')).toEqual({
      name: 'nobody',
      uid: 65534,
      gid: 65534,
      home: '/nonexistent',
    });
    expect(parsePasswdLine('')).toBeNull();
    expect(parsePasswdLine('x:x::1:g:/h:/s')).toBeNull();
  });
});
