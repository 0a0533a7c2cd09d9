import { writeFile } from 'node:fs/promises';
import { ValidationError, errorMessage, loadPrivateKey, signRevocation } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { toJson } from '../format.js';
import { resolveGlobals, type RawGlobalOptions } from '../options.js';

export interface KeysRevokeOptions extends RawGlobalOptions {
  /** The id of the release key revoked. */
  keyId: string;
  /** Another trusted release key, which signs the revocation. */
  signingKey: string;
  reason?: string | undefined;
  /** Where the signed revocation is written. */
  out: string;
}

/**
 * `flotilla keys revoke release KEYID --signing-key PATH --out FILE`: a revocation of one
 * release key, signed by another. Put the file in the controller's `<dataDir>/trust/` and restart
 * it: uploads signed by the key are refused, and every host gets the revocation with its
 * assignment and refuses the key's descriptors from then on.
 */
export async function keysRevokeRelease(opts: KeysRevokeOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    if (!/^[0-9a-f]{16}$/.test(opts.keyId)) throw new ValidationError(`"${opts.keyId}" is not a key id (16 lowercase hex digits)`);
    const signer = loadPrivateKey(opts.signingKey);
    const signed = signRevocation({ keyId: opts.keyId, reason: opts.reason ?? '', issuedAtMs: ctx.now() }, signer);
    try {
      await writeFile(opts.out, `${JSON.stringify(signed, null, 2)}\n`, { flag: 'wx' });
    } catch (err) {
      throw new ValidationError(`cannot write ${opts.out}: ${errorMessage(err)}`, { cause: err });
    }
    if (globals.json) ctx.out.write(toJson({ revoked: opts.keyId, signedBy: signer.keyId, file: opts.out }));
    else {
      ctx.out.write(
        `release key ${opts.keyId} revoked (signed by ${signer.keyId}): ${opts.out}\n` +
          `next: copy it into the controller's <dataDir>/trust/ and restart the controller\n`,
      );
    }
    return EXIT.OK;
  });
}
