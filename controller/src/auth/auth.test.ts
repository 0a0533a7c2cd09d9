import { createHash } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { PermissionDeniedError, UnauthenticatedError, principalFromSubjectAltName } from '@flotilla/shared';
import { authenticator } from './authenticate.js';
import { listenerPolicy } from './config.js';
import { HostArtifacts } from './host-artifacts.js';
import { CONTROL_RULES } from './methods.js';
import { authorize } from './policy.js';
import type { OperatorPolicy } from './roles.js';

const hex = (t: string) => createHash('sha256').update(t).digest('hex');
const ops: OperatorPolicy[] = [
  { name: 'ann', tokenSha256: hex('ann-token'), grants: [{ role: 'viewer', apps: '*' }] },
  { name: 'bob', tokenSha256: hex('bob-token'), grants: [{ role: 'deployer', apps: ['web'] }] },
  { name: 'cy', grants: [{ role: 'admin', apps: '*' }] },
];
const noRevocations = { revoked: () => undefined };
const peer = (san: string, validFrom = 'Jan  1 00:00:00 2026 GMT') => ({ subjectaltname: san, valid_from: validFrom }) as PeerCertificate;

describe('principalFromSubjectAltName', () => {
  it('reads exactly one flotilla URI; none or two speak for nobody', () => {
    expect(principalFromSubjectAltName('DNS:x, URI:flotilla://host/web-01')).toEqual({ kind: 'host', name: 'web-01' });
    expect(principalFromSubjectAltName('DNS:x')).toBeUndefined();
    expect(principalFromSubjectAltName('URI:flotilla://host/a, URI:flotilla://operator/b')).toBeUndefined();
    expect(principalFromSubjectAltName('URI:flotilla://host/../etc')).toBeUndefined();
  });
});

describe('authenticator', () => {
  const auth = authenticator({ operators: ops, revocations: noRevocations, open: false });

  it('names operators by token and by certificate, hosts by certificate', () => {
    expect(auth({ authorization: 'Bearer bob-token' })).toMatchObject({ kind: 'operator', name: 'bob', via: 'token' });
    expect(auth({ peerCertificate: peer('URI:flotilla://operator/cy') })).toMatchObject({ kind: 'operator', name: 'cy', via: 'certificate' });
    expect(auth({ peerCertificate: peer('URI:flotilla://host/web-01') })).toEqual({ kind: 'host', hostId: 'web-01' });
  });

  it('refuses no credentials, a wrong token, an unknown operator and a controller certificate', () => {
    for (const creds of [
      {},
      { authorization: 'Bearer nope' },
      { authorization: 'Basic abc' },
      { peerCertificate: peer('URI:flotilla://operator/mallory') },
      { peerCertificate: peer('URI:flotilla://controller/controller') },
    ]) {
      expect(() => auth(creds)).toThrow(UnauthenticatedError);
    }
  });

  it('refuses a revoked host certificate issued before the revocation, not a newer one', () => {
    const revokedAt = Date.parse('2026-06-01T00:00:00Z');
    const a = authenticator({
      operators: ops,
      revocations: { revoked: (h, nb) => (h === 'web-03' && nb <= revokedAt ? { hostId: h, revokedAtMs: revokedAt, by: 'operator:cy' } : undefined) },
      open: false,
    });
    expect(() => a({ peerCertificate: peer('URI:flotilla://host/web-03', 'Jan  1 00:00:00 2026 GMT') })).toThrow(/revoked by operator:cy/);
    expect(a({ peerCertificate: peer('URI:flotilla://host/web-03', 'Jul  1 00:00:00 2026 GMT') })).toEqual({ kind: 'host', hostId: 'web-03' });
  });

  it('lets anyone through only when open', () => {
    expect(authenticator({ operators: [], revocations: noRevocations, open: true })({})).toEqual({ kind: 'open' });
  });
});

describe('authorize', () => {
  const op = (name: string) => {
    const policy = ops.find((o) => o.name === name) as OperatorPolicy;
    return { kind: 'operator' as const, name, policy, via: 'token' as const };
  };

  it('grants by role and app, and names the missing permission', () => {
    expect(() => authorize(op('ann'), { permission: 'view' }, 'ListHosts')).not.toThrow();
    expect(() => authorize(op('ann'), { permission: 'deploy', app: 'web' }, 'Deploy')).toThrow(/lacks permission "deploy" on app "web"/);
    expect(() => authorize(op('bob'), { permission: 'deploy', app: 'web' }, 'Deploy')).not.toThrow();
    expect(() => authorize(op('bob'), { permission: 'deploy', app: 'api' }, 'Deploy')).toThrow(PermissionDeniedError);
    // A deployer scoped to web may not list the whole fleet's hosts.
    expect(() => authorize(op('bob'), { permission: 'view' }, 'ListHosts')).toThrow(/on every app/);
    expect(() => authorize(op('cy'), { permission: 'admin' }, 'RevokeHost')).not.toThrow();
    expect(() => authorize({ kind: 'host', hostId: 'h' }, { permission: 'view' }, 'ListHosts')).toThrow(/host "h" may not call ListHosts/);
  });

  it('has a rule for every Control method, and scopes rollout ids by their app', () => {
    expect(CONTROL_RULES['RolloutCommand']?.appOf({ id: 'web-12' })).toBe('web');
    expect(CONTROL_RULES['RolloutCommand']?.appOf({ id: '../x' })).toBeUndefined();
    expect(CONTROL_RULES['Deploy']?.appOf({ app: 'api' })).toBe('api');
  });
});

describe('listenerPolicy', () => {
  const base = { tls: undefined, operators: [], apiToken: false, insecure: false };
  it('runs open only on loopback without credentials, or when told --insecure', () => {
    expect(listenerPolicy({ ...base, grpcListen: { host: '127.0.0.1', port: 1 } })).toEqual({ open: true });
    expect(listenerPolicy({ ...base, apiToken: true, grpcListen: { host: '127.0.0.1', port: 1 } })).toEqual({ open: false });
    expect(() => listenerPolicy({ ...base, grpcListen: { host: '0.0.0.0', port: 1 } })).toThrow(/beyond loopback/);
    expect(() => listenerPolicy({ ...base, operators: ops, grpcListen: { host: '10.0.0.1', port: 1 } })).toThrow(/without TLS/);
    expect(listenerPolicy({ ...base, insecure: true, grpcListen: { host: '0.0.0.0', port: 1 } })).toEqual({ open: true });
    const tls = { cert: 'c', key: 'k', ca: 'a' };
    expect(listenerPolicy({ ...base, tls, grpcListen: { host: '0.0.0.0', port: 1 } })).toEqual({ open: false });
  });

  it('refuses webhook tokens over plain HTTP beyond loopback', () => {
    const grpcListen = { host: '127.0.0.1', port: 1 };
    const http = (host: string, tls: boolean, webhookTokens: boolean) => ({ listen: { host, port: 2 }, tls, webhookTokens });
    expect(() => listenerPolicy({ ...base, grpcListen, http: http('0.0.0.0', false, true) })).toThrow(/http\.listen 0\.0\.0\.0:2 .* in clear/);
    expect(listenerPolicy({ ...base, grpcListen, http: http('0.0.0.0', true, true) })).toEqual({ open: true });
    expect(listenerPolicy({ ...base, grpcListen, http: http('0.0.0.0', false, false) })).toEqual({ open: true });
    expect(listenerPolicy({ ...base, grpcListen, http: http('127.0.0.1', false, true) })).toEqual({ open: true });
  });
});

describe('HostArtifacts', () => {
  const release = (sha256: string) => ({ payload: JSON.stringify({ sha256 }), keyId: 'k', signature: 's' });
  it("allows a host its assigned and stable artifacts, and for a while those it was assigned, never another's", async () => {
    let apps: Record<string, { version: string; release: ReturnType<typeof release>; stableVersion?: string }> = {
      web: { version: '2', release: release('sha-web-2'), stableVersion: '1' },
    };
    const ha = new HostArtifacts({
      currentAssignment: (h) => (h === 'h1' ? ({ hostId: h, seq: 1, apps } as never) : undefined),
      artifactSha256: async (app, v) => `sha-${app}-${v}`,
    });
    expect(await ha.allowed('h1', 'sha-web-2')).toBe(true);
    expect(await ha.allowed('h1', 'sha-web-1')).toBe(true);
    expect(await ha.allowed('h1', 'sha-api-1')).toBe(false);
    expect(await ha.allowed('h2', 'sha-web-2')).toBe(false);
    apps = { web: { version: '3', release: release('sha-web-3') } };
    expect(await ha.allowed('h1', 'sha-web-2')).toBe(true);
  });
});
