import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, parseSelector } from '@flotilla/shared';
import { ROLES, type OperatorPolicy, type RoleGrant } from './roles.js';

/** The controller's TLS files: its own certificate and key, and the CA its clients' certificates chain to. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export const tlsSchema = z
  .object({
    cert: z.string().min(1).transform((p) => resolve(p)),
    key: z.string().min(1).transform((p) => resolve(p)),
    ca: z.string().min(1).transform((p) => resolve(p)),
  })
  .strict()
  .optional();

const grantSchema = z
  .object({
    role: z.enum(ROLES),
    apps: z.array(z.string().min(1)).min(1).optional(),
    // A label selector; the grant's writes reach only the hosts it picks. Absent: every host.
    selector: z.string().trim().min(1, 'give a label selector such as env=staging, or leave selector out').optional(),
  })
  .strict()
  .transform((g, ctx): RoleGrant => {
    const apps = !g.apps || g.apps.includes('*') ? ('*' as const) : g.apps;
    if (g.selector === undefined) return { role: g.role, apps };
    try {
      return { role: g.role, apps, hosts: { text: g.selector, terms: parseSelector(g.selector) } };
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['selector'], message: err instanceof Error ? err.message : 'not a label selector' });
      return z.NEVER;
    }
  });

export const operatorsSchema = z
  .array(
    z
      .object({
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"'),
        tokenSha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the token (printf %s "$TOKEN" | sha256sum)')
          .optional(),
        roles: z.array(grantSchema).min(1, 'give the operator at least one role'),
      })
      .strict()
      .transform((o): OperatorPolicy => ({ name: o.name, ...(o.tokenSha256 ? { tokenSha256: o.tokenSha256 } : {}), grants: o.roles })),
  )
  .prefault([])
  .refine((list) => new Set(list.map((o) => o.name)).size === list.length, { message: 'operator names must be unique' });

/** The legacy single API token, kept working as one admin operator named "api-token". */
export function apiTokenOperator(sha256Hex: string): OperatorPolicy {
  return { name: 'api-token', tokenSha256: sha256Hex, grants: [{ role: 'admin', apps: '*' }] };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * Deny by default. Whether the gRPC listener may run open (callers without credentials pass):
 * only on loopback with no credentials configured at all, or when told `--insecure`. A listener
 * reachable beyond loopback needs TLS (tokens must not cross the network in clear text), unless
 * `--insecure`; so does an HTTP listener beyond loopback whose webhooks take tokens. Returns `open`;
 * throws ConfigError naming what to configure.
 */
export function listenerPolicy(input: {
  grpcListen: { readonly host: string; readonly port: number };
  /** The HTTP listener, whether it serves TLS, and whether webhook tokens are configured. */
  http?: { readonly listen: { readonly host: string; readonly port: number }; readonly tls: boolean; readonly webhookTokens: boolean };
  tls: TlsFiles | undefined;
  operators: readonly OperatorPolicy[];
  /** The legacy single token is set. */
  apiToken: boolean;
  insecure: boolean;
}): { open: boolean } {
  if (input.insecure) return { open: true };
  const http = input.http;
  if (http && http.webhookTokens && !http.tls && !isLoopback(http.listen.host)) {
    throw new ConfigError(
      `http.listen ${http.listen.host}:${http.listen.port} is reachable beyond loopback and the alert webhooks take tokens, ` +
        'which would cross the network in clear: set http.tls (with tls.cert, tls.key and tls.ca), listen on 127.0.0.1 ' +
        'behind a TLS proxy, or pass --insecure',
    );
  }
  const credentials = input.tls !== undefined || input.operators.length > 0 || input.apiToken;
  if (isLoopback(input.grpcListen.host)) return { open: !credentials };
  if (!input.tls) {
    throw new ConfigError(
      `grpc.listen ${input.grpcListen.host}:${input.grpcListen.port} is reachable beyond loopback without TLS and client ` +
        'authentication: set tls.cert, tls.key and tls.ca (see flotilla tls) and list operators, ' +
        'listen on 127.0.0.1, or pass --insecure to run open',
    );
  }
  return { open: false };
}
