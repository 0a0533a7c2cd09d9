// Credentials written into NATS server URLs (nats://user:pass@host:4222, nats://token@host).
// The NATS client connects with the user, password or token options only, so credentials left in
// a URL would be dropped without a word, and the URL would carry the password into every log line
// that names the server. They are lifted out once, when the config is read: the servers keep only
// scheme, host and port, and the credentials join nats.user/password/token.
import { z } from 'zod';

/** The settings a NATS connection is made from (both programs' `nats` config section). */
export interface NatsAuthSettings {
  readonly servers: readonly string[];
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly token?: string | undefined;
}

/** What URL credentials became, or why they cannot be used (the reason never holds a secret). */
export type NatsUrlCredentials<T extends NatsAuthSettings> = { readonly ok: true; readonly settings: T } | { readonly ok: false; readonly reason: string };

interface Parsed {
  /** The server without credentials, as the client is given it. */
  readonly server: string;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

function parseServer(server: string): Parsed {
  // The client also takes bare host:port; a URL parser needs a scheme to find the user info.
  const hasScheme = SCHEME.test(server);
  const at = server.lastIndexOf('@');
  if (at < 0) return { server };
  let url: URL;
  try {
    url = new URL(hasScheme ? server : `nats://${server}`);
  } catch {
    // Not a URL the client could use either; leave it to the client's own error, without the
    // part before the '@' (which is all the credentials there may be).
    return { server: `${hasScheme ? (SCHEME.exec(server)?.[0] ?? '') : ''}${server.slice(at + 1)}` };
  }
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  const bare = hasScheme ? url.toString().replace(/\/$/, '') : url.host;
  if (user === '' && password === '') return { server: bare };
  // The NATS convention: a user info without a password is a token.
  if (password === '') return { server: bare, token: user };
  return { server: bare, user, password };
}

/** A server URL with any credentials shown as `***`: for messages and logs. */
export function redactNatsUrl(server: string): string {
  const at = server.lastIndexOf('@');
  if (at < 0) return server;
  const scheme = SCHEME.exec(server)?.[0] ?? '';
  return `${scheme}***@${server.slice(at + 1)}`;
}

/**
 * Moves credentials out of the server URLs into user/password/token. Refuses (with a reason that
 * names the servers redacted) when servers carry different credentials, or when a URL's
 * credentials disagree with the ones configured beside them: there is no telling which is meant.
 */
export function liftNatsUrlCredentials<T extends NatsAuthSettings>(settings: T): NatsUrlCredentials<T> {
  const parsed = settings.servers.map(parseServer);
  const withCredentials = parsed.filter((p) => p.user !== undefined || p.token !== undefined);
  if (withCredentials.length === 0) return { ok: true, settings: { ...settings, servers: parsed.map((p) => p.server) } };
  const first = withCredentials[0] as Parsed;
  const same = (p: Parsed) => p.user === first.user && p.password === first.password && p.token === first.token;
  if (!withCredentials.every(same)) {
    return { ok: false, reason: `servers ${settings.servers.map(redactNatsUrl).join(', ')} carry different credentials; put one set in nats.user and nats.password (or nats.token)` };
  }
  const clash =
    (first.user !== undefined && ((settings.user !== undefined && settings.user !== first.user) || (settings.password !== undefined && settings.password !== first.password) || settings.token !== undefined)) ||
    (first.token !== undefined && ((settings.token !== undefined && settings.token !== first.token) || settings.user !== undefined || settings.password !== undefined));
  if (clash) {
    const url = redactNatsUrl(settings.servers[parsed.indexOf(first)] as string);
    return { ok: false, reason: `${url} carries credentials other than nats.user/nats.password/nats.token; keep them in one place` };
  }
  return {
    ok: true,
    settings: {
      ...settings,
      servers: parsed.map((p) => p.server),
      ...(first.user !== undefined ? { user: first.user, password: first.password } : {}),
      ...(first.token !== undefined ? { token: first.token } : {}),
    },
  };
}

/**
 * `liftNatsUrlCredentials` as a step of a config schema: `natsSection.transform(natsCredentialsFromUrls)`.
 * A refusal is an issue on `nats.servers`, so start fails naming the setting.
 */
export function natsCredentialsFromUrls<T extends NatsAuthSettings>(settings: T, ctx: z.RefinementCtx<T>): T {
  const lifted = liftNatsUrlCredentials(settings);
  if (lifted.ok) return lifted.settings;
  ctx.addIssue({ code: 'custom', path: ['servers'], message: lifted.reason });
  return z.NEVER;
}
