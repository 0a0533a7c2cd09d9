import { parseAppVersion } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { formatBytes, toJson, toNumber } from '../format.js';
import { actorOf, resolveGlobals, withController, type RawGlobalOptions } from '../options.js';

export interface ArtifactRmOptions extends RawGlobalOptions {
  /** `APP@VERSION`. */
  target: string;
  /** Remove a version retention keeps only as one of the newest; a protected one stays refused. */
  force?: boolean | undefined;
}

/**
 * `flotilla artifact rm APP@VERSION [--force]`: deletes one stored version, its record and (when
 * no other version has the same bytes) its file. The controller refuses a protected version and
 * says why; --force does not change that.
 */
export async function artifactRm(opts: ArtifactRmOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const { app, version } = parseAppVersion(opts.target);
    const response = await withController(ctx, globals, (client) =>
      client.removeArtifact({ app, version, force: opts.force === true, actor: actorOf(ctx.env) }),
    );
    if (globals.json) {
      ctx.out.write(toJson(response));
      return EXIT.OK;
    }
    const size = formatBytes(toNumber(response.artifact?.size));
    ctx.out.write(
      response.bytes_removed
        ? `removed ${app}@${version} (${size} freed)\n`
        : `removed ${app}@${version}; its ${size} stay on disk: another version has the same bytes\n`,
    );
    return EXIT.OK;
  });
}
