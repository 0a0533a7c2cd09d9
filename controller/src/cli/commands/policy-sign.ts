import { writeFile } from 'node:fs/promises';
import { ValidationError, errorMessage, loadPrivateKey, signAppPolicy } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { toJson } from '../format.js';
import { resolveGlobals, type RawGlobalOptions } from '../options.js';

export interface PolicySignOptions extends RawGlobalOptions {
  app: string;
  /** Every version revoked (the newest policy replaces the older ones, so list them all). */
  revoke: string[];
  /** A trusted release key. */
  key: string;
  out: string;
}

/**
 * `flotilla policy sign APP --revoke V... --key PATH --out FILE`: the app's signed policy. Hosts
 * refuse to install a revoked version whatever assigns it; the controller refuses to assign one.
 */
export async function policySign(opts: PolicySignOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const signer = loadPrivateKey(opts.key);
    const signed = signAppPolicy({ app: opts.app, revokedVersions: opts.revoke, issuedAtMs: ctx.now() }, signer);
    try {
      await writeFile(opts.out, `${JSON.stringify(signed, null, 2)}\n`, { flag: 'wx' });
    } catch (err) {
      throw new ValidationError(`cannot write ${opts.out}: ${errorMessage(err)}`, { cause: err });
    }
    if (globals.json) ctx.out.write(toJson({ app: opts.app, revokedVersions: opts.revoke, signedBy: signer.keyId, file: opts.out }));
    else {
      ctx.out.write(
        `policy for ${opts.app}: revoked ${opts.revoke.join(', ') || 'nothing'} (signed by ${signer.keyId}): ${opts.out}\n` +
          `next: copy it into the controller's <dataDir>/trust/ and restart the controller\n`,
      );
    }
    return EXIT.OK;
  });
}
