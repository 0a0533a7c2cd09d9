import { statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import {
  ValidationError,
  assertAppName,
  assertVersion,
  errorMessage,
  loadPrivateKey,
  makeDescriptor,
  signDescriptor,
  type Descriptor,
  type SignedDescriptor,
} from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { hashFile } from '../files.js';
import { formatBytes, toJson } from '../format.js';
import { resolveGlobals, type RawGlobalOptions } from '../options.js';

export interface ArtifactSignOptions extends RawGlobalOptions {
  /** The gzip tarball to sign. */
  file: string;
  app: string;
  version: string;
  /** Ed25519 private key, PKCS#8 PEM. */
  key: string;
  /** Where to write the signed descriptor. @default `${file}.sig.json` */
  out?: string | undefined;
}

export interface SignedArtifact {
  readonly descriptor: Descriptor;
  readonly signed: SignedDescriptor;
}

/** Hashes the file and signs its descriptor; shared by `artifact sign` and `artifact push --key`. */
export async function signArtifactFile(
  ctx: Pick<CliContext, 'err'>,
  input: { file: string; app: string; version: string; key: string },
): Promise<SignedArtifact> {
  assertAppName(input.app);
  assertVersion(input.version);
  const signer = loadPrivateKey(input.key);
  warnIfKeyExposed(ctx, input.key);
  const digest = await hashFile(input.file);
  const descriptor = makeDescriptor({ app: input.app, version: input.version, ...digest });
  return { descriptor, signed: signDescriptor(descriptor, signer) };
}

/** `flotilla artifact sign FILE`: writes the signed descriptor a CI job can push later without the key. */
export async function artifactSign(opts: ArtifactSignOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const { descriptor, signed } = await signArtifactFile(ctx, opts);
    const out = opts.out ?? `${opts.file}.sig.json`;
    try {
      await writeFile(out, `${JSON.stringify(signed, null, 2)}\n`, 'utf8');
    } catch (err) {
      throw new ValidationError(`cannot write signed descriptor ${out}: ${errorMessage(err)}`, { cause: err });
    }
    if (globals.json) {
      ctx.out.write(
        toJson({
          app: descriptor.app,
          version: descriptor.version,
          sha256: descriptor.sha256,
          size: descriptor.size,
          keyId: signed.keyId,
          signature: out,
        }),
      );
    } else {
      ctx.out.write(
        `signed ${descriptor.app}@${descriptor.version} (${formatBytes(descriptor.size)}) with key ${signed.keyId}\n` +
          `sha256 ${descriptor.sha256}\n` +
          `wrote ${out}\n`,
      );
    }
    return EXIT.OK;
  });
}

/** A release key others can read is a key others may have copied; say so, but do not refuse. */
function warnIfKeyExposed(ctx: Pick<CliContext, 'err'>, path: string): void {
  try {
    const mode = statSync(path).mode & 0o777;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      ctx.err.write(
        `warning: private key ${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it\n`,
      );
    }
  } catch {
    // loadPrivateKey already read it; a stat failure here changes nothing.
  }
}
