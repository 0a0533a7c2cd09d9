import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { toJson } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';

/** `flotilla whoami`: who the controller takes these credentials to be, and their roles. */
export async function whoami(opts: RawGlobalOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const me = await withController(ctx, globals, (client) => client.whoami({}));
    if (globals.json) {
      ctx.out.write(toJson(me));
      return EXIT.OK;
    }
    if (me.kind === 'open') {
      ctx.out.write('nobody: this controller runs open (no credentials needed)\n');
      return EXIT.OK;
    }
    const roles =
      me.roles.map((r) => `${r.role} on ${r.apps.join(',')}${r.selector ? ` (writes to hosts ${r.selector} only)` : ''}`).join('; ') || 'none';
    ctx.out.write(`${me.kind}:${me.name} (by ${me.via})\nroles: ${roles}\n`);
    return EXIT.OK;
  });
}
