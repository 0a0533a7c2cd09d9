import type { ArtifactInfo__Output } from '@flotilla/proto';
import { assertAppName } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { formatAgo, formatBytes, renderTable, shortDigest, toJson, toNumber, useColour } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';

export interface ArtifactListOptions extends RawGlobalOptions {
  /** Only this app's artifacts. */
  app?: string | undefined;
}

/** `flotilla artifact list`: the stored artifacts, by app then upload time. */
export async function artifactList(opts: ArtifactListOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    if (opts.app !== undefined) assertAppName(opts.app);
    const response = await withController(ctx, globals, (client) => client.listArtifacts({ app: opts.app ?? '' }));
    if (globals.json) {
      ctx.out.write(toJson(response));
      return EXIT.OK;
    }
    if (response.artifacts.length === 0) {
      ctx.out.write(opts.app ? `no artifacts for app ${opts.app}\n` : 'no artifacts\n');
      return EXIT.OK;
    }
    ctx.out.write(artifactTable(response.artifacts, ctx));
    return EXIT.OK;
  });
}

export function artifactTable(
  artifacts: readonly ArtifactInfo__Output[],
  ctx: Pick<CliContext, 'now' | 'isTTY' | 'env'>,
): string {
  const now = ctx.now();
  const rows = [...artifacts]
    .sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : toNumber(a.uploaded_at_ms) - toNumber(b.uploaded_at_ms)))
    .map((a) => [
      a.app,
      a.version,
      shortDigest(a.sha256),
      formatBytes(toNumber(a.size)),
      a.key_id || '-',
      formatAgo(toNumber(a.uploaded_at_ms), now),
    ]);
  return renderTable(['APP', 'VERSION', 'SHA256', 'SIZE', 'KEY', 'UPLOADED'], rows, useColour(ctx));
}
