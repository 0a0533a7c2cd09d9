import { ValidationError, assertAppName, assertVersion } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { checkDescriptorMatches, hashFile, readChunks, readSignedDescriptor } from '../files.js';
import { formatBytes, toJson, toNumber } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';
import { signArtifactFile, type SignedArtifact } from './artifact-sign.js';

export interface ArtifactPushOptions extends RawGlobalOptions {
  /** The gzip tarball to upload. */
  file: string;
  app: string;
  version: string;
  /** Sign now with this private key... */
  key?: string | undefined;
  /** ...or upload with this pre-signed descriptor (from `flotilla artifact sign`). */
  signature?: string | undefined;
}

/**
 * `flotilla artifact push FILE`: signs (or takes a pre-signed descriptor), then streams the
 * descriptor and the bytes to the controller, which stores them once the signature verifies.
 */
export async function artifactPush(opts: ArtifactPushOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    if ((opts.key === undefined) === (opts.signature === undefined)) {
      throw new ValidationError(
        'artifact push needs exactly one of --key FILE (sign now) or --signature FILE.sig.json (pre-signed)',
      );
    }
    const { descriptor, signed } =
      opts.key !== undefined
        ? await signArtifactFile(ctx, { ...opts, key: opts.key })
        : await preSigned(opts, opts.signature as string);

    const response = await withController(ctx, globals, (client) =>
      client.upload(
        { descriptor_json: signed.payload, key_id: signed.keyId, signature: signed.signature },
        () => readChunks(opts.file),
      ),
    );
    const artifact = response.artifact;
    const sha256 = artifact?.sha256 || descriptor.sha256;
    if (globals.json) {
      ctx.out.write(toJson({ ...artifact, already_present: response.already_present }));
    } else {
      const what = `${descriptor.app}@${descriptor.version}`;
      const size = formatBytes(toNumber(artifact?.size) || descriptor.size);
      ctx.out.write(
        response.already_present
          ? `${what} already present (same bytes), nothing uploaded\n`
          : `pushed ${what} (${size}, signed by key ${signed.keyId})\n`,
      );
      ctx.out.write(`sha256 ${sha256}\n`);
    }
    return EXIT.OK;
  });
}

async function preSigned(opts: ArtifactPushOptions, path: string): Promise<SignedArtifact> {
  assertAppName(opts.app);
  assertVersion(opts.version);
  const { signed, descriptor } = await readSignedDescriptor(path);
  const digest = await hashFile(opts.file);
  checkDescriptorMatches(descriptor, { app: opts.app, version: opts.version, file: opts.file, digest }, path);
  return { signed, descriptor };
}
