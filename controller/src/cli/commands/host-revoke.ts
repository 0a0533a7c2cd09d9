import { assertPrincipalName } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { toJson } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';

/** `flotilla host revoke ID`: every controller refuses the host's certificates issued until now. */
export async function hostRevoke(opts: RawGlobalOptions & { hostId: string }, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const hostId = assertPrincipalName(opts.hostId, 'host id');
    const r = await withController(ctx, globals, (client) => client.revokeHost({ host_id: hostId }));
    if (globals.json) ctx.out.write(toJson(r));
    else ctx.out.write(`host ${r.host_id} revoked by ${r.by}: its certificates issued until now are refused\n`);
    return EXIT.OK;
  });
}
