import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError, errorMessage, generateKeyPairPem } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { toJson } from '../format.js';
import { resolveGlobals, type RawGlobalOptions } from '../options.js';
import { pathExists } from '../../path-exists.js';

export interface KeysGenerateOptions extends RawGlobalOptions {
  /** File name stem: writes NAME.key and NAME.pub. */
  name: string;
  /** @default '.' */
  outDir?: string | undefined;
  /** Replace existing files. @default false */
  force?: boolean | undefined;
}

// A file name, not a path: the directory is --out-dir's job.
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/;

/** `flotilla keys generate NAME`: a new Ed25519 release key pair as PEM files. */
export async function keysGenerate(opts: KeysGenerateOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    if (!KEY_NAME.test(opts.name)) {
      throw new ValidationError(
        `key name "${opts.name}" is invalid: use letters, digits, '.', '-' or '_' (the directory goes in --out-dir)`,
      );
    }
    const dir = opts.outDir ?? '.';
    const privatePath = join(dir, `${opts.name}.key`);
    const publicPath = join(dir, `${opts.name}.pub`);
    if (!opts.force) {
      for (const path of [privatePath, publicPath]) {
        if (await pathExists(path)) {
          throw new ValidationError(`${path} already exists; refusing to overwrite a key (use --force to replace it)`);
        }
      }
    }

    const pair = generateKeyPairPem();
    await writeNew(privatePath, pair.privateKeyPem, 0o600, opts.force === true);
    try {
      await writeNew(publicPath, pair.publicKeyPem, 0o644, opts.force === true);
    } catch (err) {
      // Half a pair is worse than none: the next attempt would refuse to overwrite it.
      await rm(privatePath, { force: true });
      throw err;
    }

    if (globals.json) {
      ctx.out.write(toJson({ keyId: pair.keyId, privateKey: privatePath, publicKey: publicPath }));
    } else {
      ctx.out.write(
        `key id ${pair.keyId}\n` +
          `  private key  ${privatePath}  (mode 0600; keep it secret, and a release key off the controller and the hosts)\n` +
          `  public key   ${publicPath}  (release key: --trusted-key on controller and agents; controller key: --controller-public-key on agents)\n`,
      );
    }
    return EXIT.OK;
  });
}


/**
 * Creates the file exclusively (O_EXCL) so that a racing writer or a file that appeared since the
 * check is never clobbered. With `replace`, the old file is removed first rather than truncated,
 * so the new secret never inherits a looser mode from it.
 */
async function writeNew(path: string, content: string, mode: number, replace: boolean): Promise<void> {
  if (replace) await rm(path, { force: true });
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ValidationError(`${path} already exists; refusing to overwrite a key (use --force to replace it)`);
    }
    throw new ValidationError(`cannot create ${path}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    // The umask may have narrowed the mode (fine) but never widens it; set it exactly anyway.
    await handle.chmod(mode);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(path, { force: true });
    throw new ValidationError(`cannot write ${path}: ${errorMessage(err)}`, { cause: err });
  }
  await handle.close();
}
