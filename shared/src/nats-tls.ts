// TLS to nats-server, the same section in the controller's and the agent's config. With a CA
// file the client verifies the server against that CA only (a private fleet CA, not the system
// store); with a certificate and key it also proves itself, for servers that `verify` clients.
import { resolve } from 'node:path';
import { z } from 'zod';

/** `nats.tls` in both programs' config. */
export interface NatsTlsSettings {
  /** CA bundle the server's certificate must chain to. @default the system's CAs */
  readonly caFile?: string;
  /** Client certificate, for a server that requires mutual TLS. @default none */
  readonly certFile?: string;
  /** The client certificate's private key. @default none */
  readonly keyFile?: string;
}

const path = z
  .string()
  .min(1, 'must not be empty')
  .transform((p) => resolve(p))
  .optional();

/** Parses `nats.tls`: absent means plaintext; present (even `{}`) means TLS is required. */
export const natsTlsSchema = z
  .object({ caFile: path, certFile: path, keyFile: path })
  .strict()
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
    message: 'certFile and keyFile go together (the client certificate and its key)',
  })
  .optional();

/** The client library's `tls` option for these settings; undefined leaves TLS to the server URL. */
export function natsTlsOption(tls: NatsTlsSettings | undefined): { caFile?: string; certFile?: string; keyFile?: string } | undefined {
  if (tls === undefined) return undefined;
  return {
    ...(tls.caFile !== undefined ? { caFile: tls.caFile } : {}),
    ...(tls.certFile !== undefined ? { certFile: tls.certFile } : {}),
    ...(tls.keyFile !== undefined ? { keyFile: tls.keyFile } : {}),
  };
}
