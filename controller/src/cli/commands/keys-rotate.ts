import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import {
  ValidationError,
  errorMessage,
  generateKeyPairPem,
  loadPrivateKey,
  parseKeyRotation,
  parsePublicKey,
  signKeyRotation,
  type Signed,
} from '@flotilla/shared';
import { keyChainPath } from '../../trust-documents.js';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { toJson } from '../format.js';
import { resolveGlobals, type RawGlobalOptions } from '../options.js';

export interface KeysRotateOptions extends RawGlobalOptions {
  /** The controller's key file (its `controllerKey`): replaced by the new key. */
  key: string;
}

/**
 * `flotilla keys rotate controller --key PATH`: a new controller key for the next epoch, and the
 * statement announcing it signed by the current key, appended to the chain beside the key file.
 * The controller takes both at its next start: it sends the statement to every host (and to
 * hosts that come back later, with their sync), then signs in the new epoch.
 */
export async function keysRotateController(opts: KeysRotateOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const current = loadPrivateKey(opts.key);
    const chainPath = keyChainPath(opts.key);
    const chain = await readChain(chainPath);
    const last = chain.at(-1);
    if (last !== undefined && parseKeyRotation(last.payload).keyId !== current.keyId) {
      throw new ValidationError(
        `${opts.key} (key ${current.keyId}) is not the last key of ${chainPath}; a rotation may have been cut short: finish it (a ${opts.key}.next file) before starting another`,
      );
    }
    const epoch = chain.length + 2;
    const pair = generateKeyPairPem();
    const statement = signKeyRotation(
      { epoch, next: parsePublicKey(pair.publicKeyPem, 'new controller key'), issuedAtMs: ctx.now() },
      current,
    );
    // The new key first (beside the old), then the chain, then the swap: a rotation cut short at
    // any point leaves either the old state or one the message above explains.
    const nextPath = `${opts.key}.next`;
    await writeFile(nextPath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' }).catch((err: unknown) => {
      throw new ValidationError(`cannot write ${nextPath}: ${errorMessage(err)}`, { cause: err });
    });
    try {
      await writeFile(`${chainPath}.tmp`, `${JSON.stringify([...chain, statement], null, 2)}\n`, { mode: 0o644 });
      await rename(`${chainPath}.tmp`, chainPath);
    } catch (err) {
      await rm(nextPath, { force: true });
      throw new ValidationError(`cannot write ${chainPath}: ${errorMessage(err)}`, { cause: err });
    }
    await rename(nextPath, opts.key);
    if (globals.json) {
      ctx.out.write(toJson({ epoch, keyId: pair.keyId, previousKeyId: current.keyId, key: opts.key, chain: chainPath }));
    } else {
      ctx.out.write(
        `controller key rotated to epoch ${epoch}: key id ${pair.keyId} (was ${current.keyId})\n` +
          `  new key      ${opts.key}  (the old key is gone from disk; destroy any copy of it)\n` +
          `  chain        ${chainPath}  (keep it beside the key; every controller reads it)\n` +
          `next: restart the controller. It sends the statement to every host, then signs in epoch ${epoch};\n` +
          `hosts offline now take it when they come back. \`flotilla hosts\` shows each host's KEY epoch.\n`,
      );
    }
    return EXIT.OK;
  });
}

async function readChain(path: string): Promise<Signed[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ValidationError(`cannot read ${path}: ${errorMessage(err)}`, { cause: err });
  }
  const value = JSON.parse(text) as unknown;
  if (!Array.isArray(value)) throw new ValidationError(`${path} is not a JSON array of rotation statements`);
  return value as Signed[];
}
