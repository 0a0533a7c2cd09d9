import { describe, expect, it } from 'vitest';
import { PermissionDeniedError, parseSelector } from '@flotilla/shared';
import type { Caller } from './caller.js';
import { controlGuard } from './call-policy.js';
import { operatorsSchema } from './config.js';
import { targetsOfSelector, withinScope, type HostScope } from './host-scope.js';
import { CONTROL_RULES } from './methods.js';
import { authorize } from './policy.js';

const scope = (text: string): HostScope => ({ text, terms: parseSelector(text) });

describe('withinScope', () => {
  // grant scope × request selector → allowed
  const table: Array<[string, string, boolean]> = [
    ['env=staging', 'env=staging', true],
    ['env=staging', 'env==staging', true],
    ['env=staging', 'env=staging,zone=a', true],
    ['env=staging', ' zone=a , env=staging ', true],
    ['env=staging', 'env=prod', false],
    ['env=staging', '', false],
    ['env=staging', 'zone=a', false],
    ['env=staging', 'env!=staging', false],
    ['env=staging', 'env', false],
    ['env=staging,zone=a', 'env=staging', false],
    ['env=staging,zone=a', 'zone=a,env=staging', true],
    ['env!=prod', 'env!=prod,zone=a', true],
    // Sound, not complete: env=staging does pick hosts outside prod, but the rule asks for the term itself.
    ['env!=prod', 'env=staging', false],
    ['canary', 'canary,env=prod', true],
    ['canary', '!canary', false],
    ['!canary', '!canary', true],
  ];
  it.each(table)('scope %j, request selector %j → %s', (grant, request, allowed) => {
    expect(withinScope(targetsOfSelector(request), scope(grant))).toBe(allowed);
  });

  it('a selector that does not parse, and a whole-fleet call, are within no scope', () => {
    expect(targetsOfSelector('env=staging,=x')).toEqual({ kind: 'fleet' });
    expect(withinScope(targetsOfSelector('env=staging,=x'), scope('env=staging'))).toBe(false);
    expect(withinScope({ kind: 'fleet' }, scope('env=staging'))).toBe(false);
  });
});

describe('authorize with a host-scoped grant', () => {
  const staging: Caller = {
    kind: 'operator',
    name: 'sam',
    via: 'token',
    policy: { name: 'sam', grants: [{ role: 'deployer', apps: ['web'], hosts: scope('env=staging') }] },
  };
  const check = (method: string, request: Record<string, unknown>) => () => {
    const rule = CONTROL_RULES[method]!;
    if (rule.permission === 'authenticated') return;
    authorize(staging, { permission: rule.permission, app: rule.appOf(request), targets: rule.targetsOf?.(request) }, method);
  };

  it('deploys and starts rollouts within its scope only', () => {
    expect(check('Deploy', { app: 'web', selector: 'env=staging' })).not.toThrow();
    expect(check('StartRollout', { app: 'web', selector: 'env=staging,zone=a' })).not.toThrow();
    expect(check('Deploy', { app: 'web', selector: 'env=prod' })).toThrow(PermissionDeniedError);
    expect(check('Deploy', { app: 'web', selector: 'env=prod' })).toThrow(/only on hosts selected by "env=staging"; Deploy reaches the hosts its selector picks/);
    expect(check('StartRollout', { app: 'web', selector: '' })).toThrow(/StartRollout reaches every host \(empty selector\)/);
    expect(check('Deploy', { app: 'web' })).toThrow(PermissionDeniedError);
  });

  it('is refused what reaches all of an app: rollback, rollout commands (without the rollout), deleting versions', () => {
    expect(check('Rollback', { app: 'web' })).toThrow(/Rollback reaches all of the app's hosts/);
    expect(check('RolloutCommand', { id: 'web-3', command: 'abort' })).toThrow(PermissionDeniedError);
    expect(check('RemoveArtifact', { app: 'web', version: '1.0.0' })).toThrow(PermissionDeniedError);
    expect(check('CollectArtifacts', { app: 'web' })).toThrow(PermissionDeniedError);
  });

  it('reads its app in full, uploads to it, and still nothing of another app', () => {
    expect(check('ListHosts', {})).toThrow(/lacks permission "view" on every app/);
    expect(check('GetStatus', { app: 'web' })).not.toThrow();
    expect(check('ListRollouts', { app: 'web' })).not.toThrow();
    expect(() => authorize(staging, { permission: 'push', app: 'web' }, 'Upload')).not.toThrow();
    expect(check('Deploy', { app: 'api', selector: 'env=staging' })).toThrow(/lacks permission "deploy" on app "api".*deployer\(web; hosts env=staging\)/);
  });

  it('an unscoped grant beside a scoped one is not narrowed by it', () => {
    const both: Caller = {
      ...staging,
      policy: { name: 'sam', grants: [{ role: 'deployer', apps: ['web'], hosts: scope('env=staging') }, { role: 'deployer', apps: ['api'] }] },
    };
    expect(() => authorize(both, { permission: 'deploy', app: 'api', targets: { kind: 'fleet' } }, 'Rollback')).not.toThrow();
    expect(() => authorize(both, { permission: 'deploy', app: 'web', targets: { kind: 'fleet' } }, 'Rollback')).toThrow(PermissionDeniedError);
  });
});

describe('operators config: selector', () => {
  it('parses a grant selector, and refuses an empty or unreadable one naming the field', () => {
    const [op] = operatorsSchema.parse([{ name: 'sam', roles: [{ role: 'deployer', apps: ['web'], selector: 'env=staging' }] }]);
    expect(op!.grants[0]).toEqual({ role: 'deployer', apps: ['web'], hosts: { text: 'env=staging', terms: [{ op: 'eq', key: 'env', value: 'staging' }] } });
    const [plain] = operatorsSchema.parse([{ name: 'al', roles: [{ role: 'viewer' }] }]);
    expect(plain!.grants[0]).toEqual({ role: 'viewer', apps: '*' });
    for (const selector of ['', 'env=staging,=x']) {
      const r = operatorsSchema.safeParse([{ name: 'sam', roles: [{ role: 'deployer', selector }] }]);
      expect(r.success).toBe(false);
      expect(r.error!.issues[0]!.path).toEqual([0, 'roles', 0, 'selector']);
    }
  });
});

describe('controlGuard: a rollout command judged by the rollout\'s own selector', () => {
  const selectors: Record<string, string> = { 'web-1': 'env=staging', 'web-2': 'env=prod', 'web-3': '' };
  const reads: string[] = [];
  const guard = controlGuard({
    authenticate: (creds) => {
      const grants =
        creds.authorization === 'Bearer scoped'
          ? [{ role: 'deployer' as const, apps: ['web'], hosts: scope('env=staging') }]
          : [{ role: 'deployer' as const, apps: ['web'] }];
      return { kind: 'operator', name: 'sam', via: 'token', policy: { name: 'sam', grants } };
    },
    hostArtifacts: { allowed: async () => false },
    rolloutSelector: async (id) => {
      reads.push(id);
      if (id === 'web-9') throw new Error('store unreachable');
      return selectors[id];
    },
  });
  const command = (token: string, id: string) => guard('RolloutCommand', { authorization: `Bearer ${token}` }, { id, command: 'abort' });

  it('lets a scoped deployer command a rollout within its scope, and no other', async () => {
    await expect(command('scoped', 'web-1')).resolves.toMatchObject({ name: 'sam' });
    await expect(command('scoped', 'web-2')).rejects.toThrow(/only on hosts selected by "env=staging"; RolloutCommand reaches the hosts its selector picks/);
    await expect(command('scoped', 'web-3')).rejects.toThrow(/every host \(empty selector\)/);
    // Unknown, or unreadable: the refusal stands.
    await expect(command('scoped', 'web-7')).rejects.toThrow(/RolloutCommand reaches all of the app's hosts/);
    await expect(command('scoped', 'web-9')).rejects.toThrow(PermissionDeniedError);
  });

  it('reads no rollout for an unscoped grant', () => {
    reads.length = 0;
    expect(command('plain', 'web-2')).toMatchObject({ name: 'sam' });
    expect(reads).toEqual([]);
  });
});
