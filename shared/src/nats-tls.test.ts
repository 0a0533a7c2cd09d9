import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { natsTlsOption, natsTlsSchema } from './nats-tls.js';

describe('nats.tls', () => {
  it('absent means plaintext; present resolves paths and becomes the client tls option', () => {
    expect(natsTlsOption(natsTlsSchema.parse(undefined))).toBeUndefined();
    expect(natsTlsOption(natsTlsSchema.parse({}))).toEqual({});
    const t = natsTlsSchema.parse({ caFile: 'ca.crt', certFile: '/etc/flotilla/host.crt', keyFile: 'host.key' });
    expect(natsTlsOption(t)).toEqual({ caFile: resolve('ca.crt'), certFile: '/etc/flotilla/host.crt', keyFile: resolve('host.key') });
  });

  it('refuses a client certificate without its key, and unknown keys', () => {
    expect(natsTlsSchema.safeParse({ certFile: 'host.crt' }).success).toBe(false);
    expect(natsTlsSchema.safeParse({ keyFile: 'host.key' }).success).toBe(false);
    expect(natsTlsSchema.safeParse({ ca: 'x' }).success).toBe(false);
  });
});
