import type { ArtifactInfo__Output, CollectArtifactsResponse__Output } from '@flotilla/proto';
import { assertAppName } from '@flotilla/shared';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { formatBytes, paint, plural, renderTable, shortDigest, toJson, toNumber, useColour } from '../format.js';
import { resolveGlobals, withController, type RawGlobalOptions } from '../options.js';

export interface ArtifactGcOptions extends RawGlobalOptions {
  /** Only this app's artifacts. */
  app?: string | undefined;
  /** List what would be removed; remove nothing. */
  dryRun?: boolean | undefined;
}

/**
 * `flotilla artifact gc [--dry-run] [--app APP]`: removes the versions retention lets go (neither
 * protected nor among the newest artifacts.keepVersions of their app), or with --dry-run lists
 * them. Every version is listed with what happens to it and why.
 */
export async function artifactGc(opts: ArtifactGcOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const app = opts.app === undefined ? undefined : assertAppName(opts.app);
    const dryRun = opts.dryRun === true;
    const response = await withController(ctx, globals, (client) => client.collectArtifacts({ app: app ?? '', dry_run: dryRun }));
    if (globals.json) {
      ctx.out.write(toJson(response));
      return EXIT.OK;
    }
    ctx.out.write(gcTable(response, useColour(ctx)));
    ctx.out.write(`${gcSummary(response)}\n`);
    return EXIT.OK;
  });
}

function gcTable(r: CollectArtifactsResponse__Output, colour: boolean): string {
  type Row = { artifact: ArtifactInfo__Output; action: string; why: string };
  const rows: Row[] = [
    ...r.kept.flatMap((k) => (k.artifact ? [{ artifact: k.artifact, action: 'keep', why: k.protected_by.join('; ') || `newest ${r.keep_versions}` }] : [])),
    ...r.removed.map((a) => ({ artifact: a, action: r.dry_run ? 'would remove' : 'removed', why: `older than the newest ${r.keep_versions}` })),
  ];
  rows.sort(
    (x, y) =>
      (x.artifact.app < y.artifact.app ? -1 : x.artifact.app > y.artifact.app ? 1 : 0) ||
      toNumber(y.artifact.uploaded_at_ms) - toNumber(x.artifact.uploaded_at_ms),
  );
  return renderTable(
    ['APP', 'VERSION', 'SHA256', 'SIZE', 'ACTION', 'WHY'],
    rows.map((row) => [
      row.artifact.app,
      row.artifact.version,
      shortDigest(row.artifact.sha256),
      formatBytes(toNumber(row.artifact.size)),
      row.action === 'keep' ? row.action : paint(row.action, 'bad', colour),
      row.why,
    ]),
    colour,
  );
}

function gcSummary(r: CollectArtifactsResponse__Output): string {
  const freed = formatBytes(toNumber(r.freed_bytes));
  if (r.removed.length === 0) {
    return `nothing to remove: every version is protected or among the newest ${r.keep_versions} of its app`;
  }
  const versions = plural(r.removed.length, 'version');
  return r.dry_run ? `dry run: would remove ${versions}, freeing ${freed}; nothing was deleted` : `removed ${versions}, freed ${freed}`;
}
