import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError, assertPrincipalName, type CertificatePrincipal } from '@flotilla/shared';
import { DEFAULT_DAYS, createCa, issueLeaf, type IssuedPair } from '../../tls/pki.js';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { toJson } from '../format.js';
import { resolveGlobals, type RawGlobalOptions } from '../options.js';

export interface TlsCaCreateOptions extends RawGlobalOptions {
  outDir?: string | undefined;
  days?: string | undefined;
  force?: boolean | undefined;
}

export interface TlsCertCreateOptions extends RawGlobalOptions {
  /** The controller's certificate (`--server`: `--controller` is the global address flag). */
  server?: boolean | undefined;
  host?: string | undefined;
  operator?: string | undefined;
  dns?: string[] | undefined;
  ip?: string[] | undefined;
  caDir?: string | undefined;
  outDir?: string | undefined;
  days?: string | undefined;
  force?: boolean | undefined;
}

function parseDays(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 3650) throw new ValidationError(`--days "${text}" must be a whole number from 1 to 3650`);
  return n;
}

/** Writes a pair: the key 0600 first (never readable by others, even for a moment), then the certificate. */
async function writePair(dir: string, stem: string, pair: IssuedPair, force: boolean): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${stem}.pem`);
  const key = join(dir, `${stem}-key.pem`);
  const flag = force ? 'w' : 'wx';
  await mkdir(dir, { recursive: true, mode: 0o755 });
  try {
    await writeFile(key, pair.keyPem, { mode: 0o600, flag });
    await writeFile(cert, pair.certPem, { mode: 0o644, flag });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ValidationError(`${(err as NodeJS.ErrnoException).path ?? stem} already exists; refusing to overwrite it (use --force)`);
    }
    throw err;
  }
  return { cert, key };
}

/** `flotilla tls ca create`: the fleet's certificate authority (ca.pem, ca-key.pem). */
export async function tlsCaCreate(opts: TlsCaCreateOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const pair = await createCa({ name: 'Flotilla CA', days: parseDays(opts.days, DEFAULT_DAYS.ca), now: ctx.now() });
    const files = await writePair(opts.outDir ?? '.', 'ca', pair, opts.force === true);
    if (globals.json) ctx.out.write(toJson(files));
    else
      ctx.out.write(
        `CA certificate  ${files.cert}  (give it to the controller, agents and operators: --tls-ca)\n` +
          `CA private key  ${files.key}  (mode 0600; keep it off the controller and the hosts)\n`,
      );
    return EXIT.OK;
  });
}

/** `flotilla tls cert create --server | --host ID | --operator NAME`: a leaf signed by the CA. */
export async function tlsCertCreate(opts: TlsCertCreateOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const chosen = [opts.server ? 'controller' : '', opts.host ? 'host' : '', opts.operator ? 'operator' : ''].filter(Boolean);
    if (chosen.length !== 1) throw new ValidationError('name exactly one of --server (the controller), --host ID or --operator NAME');
    let principal: CertificatePrincipal;
    let stem: string;
    if (opts.server) {
      principal = { kind: 'controller', name: 'controller' };
      stem = 'controller';
    } else if (opts.host) {
      principal = { kind: 'host', name: assertPrincipalName(opts.host, 'host id') };
      stem = `host-${opts.host}`;
    } else {
      principal = { kind: 'operator', name: assertPrincipalName(opts.operator as string, 'operator name') };
      stem = `operator-${opts.operator}`;
    }
    if (!opts.server && ((opts.dns ?? []).length > 0 || (opts.ip ?? []).length > 0)) {
      throw new ValidationError('--dns and --ip name the controller: they go with --server only');
    }
    const caDir = opts.caDir ?? '.';
    const ca: IssuedPair = {
      certPem: await readFile(join(caDir, 'ca.pem'), 'utf8'),
      keyPem: await readFile(join(caDir, 'ca-key.pem'), 'utf8'),
    };
    const days = parseDays(opts.days, DEFAULT_DAYS[principal.kind]);
    // A controller is always reachable as localhost, so local CLI calls verify without extra flags.
    const dns = opts.server ? ['localhost', ...(opts.dns ?? [])] : [];
    const ips = opts.server ? ['127.0.0.1', ...(opts.ip ?? [])] : [];
    const pair = await issueLeaf(ca, { principal, dns, ips, days, now: ctx.now() });
    const files = await writePair(opts.outDir ?? '.', stem, pair, opts.force === true);
    if (globals.json) ctx.out.write(toJson({ ...files, principal: `${principal.kind}:${principal.name}`, days }));
    else ctx.out.write(`${principal.kind}:${principal.name} certificate ${files.cert}, key ${files.key} (mode 0600), valid ${days} days\n`);
    return EXIT.OK;
  });
}
