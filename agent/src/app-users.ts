import { ConfigError, errorMessage, type Logger } from '@flotilla/shared';
import { chooseAppUser, type AppUser, type UserLookup } from './process/index.js';

/** What the agent's config says about users (AgentConfig's fields). */
export interface AppUserSettings {
  readonly appUser?: string | undefined;
  readonly runAppsAsAgent: boolean;
  readonly apps: Readonly<Record<string, { readonly runAs?: string | undefined }>>;
}

/**
 * The user each app runs as, resolved once at start so that a missing user the config names
 * stops the agent with a clear error instead of failing each app later. An app that must share the agent's user is
 * logged at warn on every start: it can read everything the agent can.
 */
export class AppUsers {
  private constructor(
    private readonly byApp: ReadonlyMap<string, AppUser | undefined>,
    private readonly fallback: AppUser | undefined,
  ) {}

  static async resolve(settings: AppUserSettings, agentIsRoot: boolean, lookup: UserLookup, logger: Logger): Promise<AppUsers> {
    const log = logger.child({ component: 'app-users' });
    const found = new Map<string, AppUser>();
    const resolveChoice = async (app: string | undefined, runAs: string | undefined): Promise<AppUser | undefined> => {
      const choice = chooseAppUser({ ...settings, runAs }, agentIsRoot);
      if (choice.kind === 'agent') {
        log.warn(
          { app: app ?? '(every app without runAs)', why: choice.why },
          'APPS RUN AS THE AGENT USER: they can read the agent credentials, keys and state',
        );
        return undefined;
      }
      let user = found.get(choice.name);
      if (user === undefined) {
        try {
          user = await lookup(choice.name);
        } catch (err) {
          // The default user is made by the package; a host installed another way may lack it.
          // Apps still run (as before), and every start says so loudly. A user the operator named
          // and that is missing is an error: it stops the agent.
          if (runAs === undefined && settings.appUser === undefined) {
            log.error(
              { err, user: choice.name },
              'APPS RUN AS THE AGENT USER: the default app user does not exist; create it (adduser --system --group flotilla-app) or set appUser',
            );
            return undefined;
          }
          const setting = runAs !== undefined ? `apps.${app}.runAs` : settings.appUser !== undefined ? 'appUser' : 'appUser (default)';
          throw new ConfigError(`flotilla-agent config: ${setting}: ${errorMessage(err)}`, { cause: err });
        }
        if (user.uid === 0) throw new ConfigError(`flotilla-agent config: user "${choice.name}" is root; apps must not run as root`);
        found.set(choice.name, user);
      }
      return user;
    };
    const fallback = await resolveChoice(undefined, undefined);
    const byApp = new Map<string, AppUser | undefined>();
    for (const [app, s] of Object.entries(settings.apps)) {
      if (s.runAs !== undefined) byApp.set(app, await resolveChoice(app, s.runAs));
    }
    log.info(
      { default: fallback?.name ?? null, apps: Object.fromEntries([...byApp].map(([a, u]) => [a, u?.name ?? null])) },
      'app users',
    );
    return new AppUsers(byApp, fallback);
  }

  /** The user `app` runs as; undefined: the agent's own. */
  userOf(app: string): AppUser | undefined {
    return this.byApp.has(app) ? this.byApp.get(app) : this.fallback;
  }

  /** Whether any app runs as a user other than the agent's (the data directory must let it through). */
  get anyApart(): boolean {
    return this.fallback !== undefined || [...this.byApp.values()].some((u) => u !== undefined);
  }
}
