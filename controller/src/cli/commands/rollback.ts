import { ValidationError, assertAppName, assertVersion } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { formatList, paint, plural, toJson, useColour } from '../format.js';
import { actorOf, resolveGlobals, withController, type RawGlobalOptions } from '../options.js';

export interface RollbackOptions extends RawGlobalOptions {
  app: string;
  /** A version the controller has an artifact for; default: the last stable version. */
  to?: string | undefined;
  /** Do not ask. */
  yes?: boolean | undefined;
  /** Go to a version marked bad all the same. */
  force?: boolean | undefined;
}

/**
 * `flotilla rollback APP [--to VERSION] [--yes] [--force]`: every host of the app back on the last
 * stable version (or VERSION) at once, aborting the app's active rollout first. It changes the
 * whole fleet of the app, so it asks first on a terminal; elsewhere it needs --yes.
 */
export async function rollback(opts: RollbackOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const app = assertAppName(opts.app);
    const to = opts.to === undefined ? undefined : assertVersion(opts.to);
    if (!opts.yes && !ctx.stdinIsTTY) {
      throw new ValidationError(
        `flotilla rollback changes every host of ${app} at once and there is no terminal to confirm on: pass --yes to go ahead`,
      );
    }
    const colour = useColour(ctx);
    return withController(ctx, globals, async (client) => {
      if (!opts.yes) {
        const { apps } = await client.getStatus({ app });
        const info = apps.find((a) => a.name === app);
        const where = info?.stable_version
          ? ` (stable ${info.stable_version}${info.previous_stable_version ? `, previous stable ${info.previous_stable_version}` : ''})`
          : '';
        const target = to ? `to ${to}` : 'to its last stable version';
        const answer = await ctx.ask(`Roll every host of ${app}${where} back ${target} now, aborting any rollout of it? [y/N] `);
        if (!/^\s*y(es)?\s*$/i.test(answer)) {
          ctx.err.write('rollback cancelled: nothing changed\n');
          return EXIT.FAILED;
        }
      }
      const response = await client.rollback({ app, to_version: to ?? '', actor: actorOf(ctx.env), force: opts.force === true });
      if (globals.json) {
        ctx.out.write(toJson(response));
        return EXIT.OK;
      }
      const revert = response.revert;
      const target = revert?.to_version ?? to ?? '?';
      const hosts = response.assigned.map((a) => `${a.host_id} (seq ${a.seq})`);
      if (response.aborted_rollout_id) ctx.out.write(`aborted rollout ${response.aborted_rollout_id}\n`);
      ctx.out.write(
        hosts.length > 0
          ? `${paint(`rolled ${app} back to ${target}`, 'bold', colour)}: ${plural(hosts.length, 'host')} reassigned at once: ${formatList(hosts)}\n`
          : `${app}: every host already runs ${target}; nothing reassigned\n`,
      );
      if (revert?.bad_version) ctx.out.write(`${app}@${revert.bad_version} is marked bad (rolling it out again needs --force)\n`);
      ctx.out.write(`${app}@${target} is the stable version (revert ${revert?.id ?? '?'}; see flotilla events --app ${app})\n`);
      return EXIT.OK;
    });
  });
}
