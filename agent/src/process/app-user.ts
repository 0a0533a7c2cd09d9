import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** The system user an app's processes (the app, its hooks, its command health check) run as. */
export interface AppUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** The user's home directory from the password database: the app's HOME. */
  readonly home: string;
}

/** Finds a user by name; throws when there is none. */
export type UserLookup = (name: string) => Promise<AppUser>;

/** The user apps run as when the agent runs as root and the config names none. */
export const DEFAULT_APP_USER = 'flotilla-app';

/** Reads one `name:x:uid:gid:gecos:home:shell` line of the password database. */
export function parsePasswdLine(line: string): AppUser | null {
  const f = line.trim().split(':');
  if (f.length < 7) return null;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || f[2] === '' || f[3] === '') return null;
  return { name: f[0] as string, uid, gid, home: f[5] as string };
}

const run = promisify(execFile);

/**
 * Asks the system's password database (getent: /etc/passwd, and LDAP or sssd where the host
 * uses them) for `name`.
 */
export const lookupUser: UserLookup = async (name) => {
  let stdout: string;
  try {
    ({ stdout } = await run('getent', ['passwd', name], { timeout: 10_000 }));
  } catch {
    throw new Error(`no user "${name}" on this host (create it, e.g. adduser --system --group ${name}, or name another)`);
  }
  const user = parsePasswdLine(stdout.split('\n')[0] ?? '');
  if (user === null) throw new Error(`the password database entry of "${name}" does not parse`);
  return user;
};

/** Who an app runs as: a user of its own, or, only when nothing else is possible or asked for, the agent's. */
export type AppUserChoice = { readonly kind: 'user'; readonly name: string } | { readonly kind: 'agent'; readonly why: string };

/**
 * Pure: an app's `runAs`, else the agent-wide `appUser`, else `flotilla-app` when the agent runs
 * as root. A non-root agent with nothing configured cannot switch users, and `runAppsAsAgent`
 * asks for the old behaviour: both run the app as the agent's own user, which the agent logs loudly.
 */
export function chooseAppUser(
  settings: { readonly appUser?: string | undefined; readonly runAppsAsAgent: boolean; readonly runAs?: string | undefined },
  agentIsRoot: boolean,
): AppUserChoice {
  if (settings.runAs !== undefined) return { kind: 'user', name: settings.runAs };
  if (settings.runAppsAsAgent) return { kind: 'agent', why: 'runAppsAsAgent is set' };
  if (settings.appUser !== undefined) return { kind: 'user', name: settings.appUser };
  if (agentIsRoot) return { kind: 'user', name: DEFAULT_APP_USER };
  return { kind: 'agent', why: 'the agent does not run as root and no appUser is configured' };
}
