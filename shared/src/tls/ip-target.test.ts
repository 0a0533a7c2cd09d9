import type { PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { IP_TARGET_SERVERNAME, ipTargetTls } from './ip-target.js';

const cert = (san: string) => ({ subject: { CN: 'controller:controller' }, subjectaltname: san }) as unknown as PeerCertificate;

describe('ipTargetTls', () => {
  it('sends a name, not the IP, and still checks the certificate against the IP', () => {
    const t = ipTargetTls('127.0.0.1:7400');
    expect(t?.servernameOverride).toBe(IP_TARGET_SERVERNAME);
    expect(t?.checkServerIdentity('ignored', cert('DNS:localhost, IP Address:127.0.0.1'))).toBeUndefined();
    expect(t?.checkServerIdentity(IP_TARGET_SERVERNAME, cert('DNS:flotilla-controller, IP Address:10.0.0.9'))).toBeInstanceOf(Error);
    expect(ipTargetTls('[::1]:7400')?.checkServerIdentity('x', cert('IP Address:0:0:0:0:0:0:0:1'))).toBeUndefined();
  });

  it('leaves host names alone', () => {
    expect(ipTargetTls('ctl.internal:7400')).toBeUndefined();
    expect(ipTargetTls('dns:ctl:7400')).toBeUndefined();
  });
});
