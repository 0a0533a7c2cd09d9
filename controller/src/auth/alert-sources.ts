import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { PermissionDeniedError, UnauthenticatedError, UnavailableError } from '@flotilla/shared';

/** A monitoring system allowed to raise alarms, for its apps only. */
export interface AlertSource {
  readonly name: string;
  /** Hex SHA-256 of its token. */
  readonly tokenSha256: string;
  readonly apps: '*' | readonly string[];
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The webhook's caller check: which alert source sent this request. The legacy single
 * `alerts.token` acts as a source named "alerts-token" for every app. Without any configured
 * source the webhooks are off (503), as before.
 */
export function alertSourceCheck(legacyToken: string | undefined, sources: readonly AlertSource[]): (req: IncomingMessage) => AlertSource {
  const all: { digest: Buffer; source: AlertSource }[] = sources.map((s) => ({ digest: Buffer.from(s.tokenSha256, 'hex'), source: s }));
  if (legacyToken) {
    const digest = sha256(legacyToken);
    all.push({ digest, source: { name: 'alerts-token', tokenSha256: digest.toString('hex'), apps: '*' } });
  }
  return (req) => {
    if (all.length === 0) {
      throw new UnavailableError('alert webhooks are disabled: set alerts.token (FLOTILLA_ALERTS_TOKEN) or alerts.sources in the controller config');
    }
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    if (!m) throw new UnauthenticatedError('alert webhooks need a token: send the header "Authorization: Bearer <token>"');
    const digest = sha256(m[1] as string);
    let found: AlertSource | undefined;
    // Every entry compared: timing tells nothing about which source's token was close.
    for (const e of all) if (e.digest.length === digest.length && timingSafeEqual(e.digest, digest)) found = e.source;
    if (!found) throw new UnauthenticatedError('the bearer token is not valid for this controller');
    return found;
  };
}

/** Refuses, before anything is raised, a request that names an app outside the source's list. */
export function assertSourceCovers(source: AlertSource, apps: readonly string[]): void {
  if (source.apps === '*') return;
  const allowed = source.apps;
  const outside = apps.filter((a) => !allowed.includes(a));
  if (outside.length > 0) {
    throw new PermissionDeniedError(
      `alert source "${source.name}" may not raise alarms for ${outside.map((a) => `"${a}"`).join(', ')} (its apps: ${allowed.join(', ')})`,
    );
  }
}
