// Artifact fetch + verify and unpack against nginx, curl, sha256sum and GNU tar; the agent's footprint.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { ListHostsResponse__Output } from '@flotilla/proto';
import { unpackRelease } from '@flotilla/agent';
import { createLogger, makeDescriptor, signDescriptor } from '@flotilla/shared';
import { AgentProcess, freePort, killAppsOf } from '../../agent-process.js';
import { unaryCall } from '../../controller-process.js';
import { runCli } from '../../fleet.js';
import { writeReleaseTarball, type ReleaseFile } from '../../release-tarball.js';
import { LogFollower } from '../logs.js';
import { delay, waitUntil } from '../../deadline.js';
import { hostCounts, type BenchContext } from '../context.js';
import { curlSha256, makeLoopbackCertificate, Nginx, nginxAvailable } from '../nginx.js';
import { ControlPlane } from '../plane.js';
import { CpuWindow, RssSampler, cpuSeconds, peakRssBytes, resetPeakRss, rssBytes } from '../proc.js';
import { fmt, type FigureGroup, type FigureRow } from '../results.js';

const run = promisify(execFile);
const APP = 'blob';
const FETCH_WORKER = fileURLToPath(new URL('../fetch-worker.js', import.meta.url));
/** What scripts/package.mjs bundles the agent's package with. */
const BUNDLE_SCRIPT = fileURLToPath(new URL('../../../../scripts/bundle.mjs', import.meta.url));

export const FOOTPRINT_TARGET = { idleRssBytes: 55e6, idleCpuShare: 0.002, deployPeakRssBytes: 150e6 };
export const FETCH_TARGET_RATIO = 1.0;
/** The controller's CPU per GiB served may be at most this many times nginx's, both over TLS. */
export const SERVE_CPU_TARGET_RATIO = 2.0;
/** The fleet and the release of the projection in the serve figure's notes. */
const PROJECTION_HOSTS = 1000;
const GIB = 1024 ** 3;
/** The bench's real agent: its certificate and NATS user are made for this id. */
const AGENT_HOST = 'bench-agent';
export const UNPACK_TARGET_RATIO = 0.9;

export interface ArtifactOptions {
  /** Size of the incompressible payload in the big release. */
  bytes: number;
  /** The idle window of the footprint figure. */
  idleMs: number;
  /** Fetches at once in the second fetch figure. */
  parallel: number;
  wanted: (group: FigureGroup) => boolean;
}

export interface Release {
  version: string;
  path: string;
  sha256: string;
  size: number;
}

/**
 * One controller, one real agent (bundled as its package ships it, started as systemd starts it,
 * with default settings) and, for the baselines, Debian's nginx with curl and sha256sum, and GNU
 * tar, all on this machine:
 *
 * 1. footprint, idle: the agent runs one small app (an HTTP server with the manifest's default
 *    health check) and sits idle for the window at the default heartbeat: CPU ticks and RSS;
 * 2. fetch, one: `curl | sha256sum` of the big release from nginx, then the agent deploys it; its
 *    own "artifact downloaded and verified" time (descriptor verified, bytes streamed from the
 *    controller, hashed as they arrive, size and SHA-256 checked, in the cache) against curl's;
 *    the peak RSS of the whole deploy (download, unpack, activation) is the deploy footprint;
 * 3. serving, N at once: N processes each running the agent's download code (the descriptor check
 *    and a download through the agent's work thread, into their own cache dirs, as the bench
 *    agent's host over TLS) started together: the controller's CPU-seconds per GiB served,
 *    against nginx's for N curls at once over TLS (and over plain HTTP, for what TLS costs);
 * 4. unpack: the agent's unpackRelease against `tar -xzf`, same tarball, same disk.
 *
 * Dirty pages are flushed (`sync`) before each timed step, so that no step pays for the last one's writes.
 */
export async function artifactFigures(ctx: BenchContext, opts: ArtifactOptions, rows: FigureRow[]): Promise<void> {
  const base = join(ctx.dir, 'artifacts');
  ctx.log(`artifacts: building a ${fmt.mb(opts.bytes)} incompressible release`);
  const small = await buildRelease(base, '1.0.0', 0);
  const big = await buildRelease(base, '2.0.0', opts.bytes);
  const haveNginx = await nginxAvailable();
  const noNginx = 'nginx is not installed (apt-get install nginx): no baseline';

  const plane = await ControlPlane.start({
    dir: join(base, 'plane'),
    ...(ctx.secure ? { secure: { agentHostIds: [AGENT_HOST] } } : {}),
    ...(ctx.profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`] } : {}),
  });
  let agent: AgentProcess | undefined;
  let nginx: Nginx | undefined;
  let curlCa: string | undefined;
  const agentDir = join(base, 'agent');
  try {
    for (const r of [small, big]) {
      ctx.log(`artifacts: pushing ${APP}@${r.version} with the CLI`);
      // The push is not measured: a generous idle limit, so that a disk busy with other writers
      // (the kernel throttles a writer while it flushes) does not fail the run.
      const pushed = await runCli(['--timeout', '300s', 'artifact', 'push', r.path, '--app', APP, '--version', r.version, '--key', plane.releaseKey.keyPath], {
        controller: plane.grpc,
        env: plane.cliEnv,
        timeoutMs: 300_000,
      });
      if (pushed.code !== 0) throw new Error(`artifact push failed (${pushed.code}): ${pushed.stdout}${pushed.stderr}`);
    }

    const port = await freePort();
    // The agent as its package ships it (one bundle, its work thread's beside it) and as a service
    // manager starts it (deploy/systemd/flotilla-agent.service), with its own defaults.
    ctx.log('artifacts: bundling the agent as its package ships it');
    const program = await shippedAgent(join(base, 'agent-package'));
    agent = AgentProcess.spawn({
      program,
      hostId: AGENT_HOST,
      natsUrl: plane.nats.url,
      controller: plane.grpc,
      dataDir: agentDir,
      trustedKeys: [plane.releaseKey.pubPath],
      controllerPublicKeys: [plane.controllerKey.pubPath],
      appEnv: [`${APP}:PORT=${port}`],
      labels: ['role=bench'],
      heartbeatInterval: null,
      logLevel: 'info',
      env: plane.agentEnv(AGENT_HOST),
      ...(ctx.profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`] } : {}),
    });
    const a = agent;
    const agentLogs = new LogFollower('the agent', a.child.stdout, a.child.stderr);
    await waitUntil('the agent to be up', async () => (await hostCounts(plane.httpTarget)).up >= 1, { timeoutMs: 30_000, intervalMs: 100 });
    await deploy(plane, small.version);
    await waitRunning(plane, small.version, 60_000);

    // 1. Idle.
    if (opts.wanted('footprint')) {
      // Past the work thread's exit and the collections that follow a deploy: the steady state.
      await delay(ctx.quick ? 3000 : 15_000);
      ctx.log(`footprint: the agent idles with one app for ${opts.idleMs / 1000} s`);
      const cpu = new CpuWindow(a.pid);
      const rss = new RssSampler(a.pid, 1000);
      await delay(opts.idleMs);
      const c = cpu.read();
      const r = rss.stop();
      rows.push({
        id: 'footprint-idle',
        group: 'footprint',
        figure: `agent idle: one app, ${opts.idleMs / 1000} s, default heartbeat`,
        value: `RSS ${fmt.mb(r.max)}, CPU ${fmt.pct(c.share)}`,
        baseline: '—',
        ratio: '—',
        target: 'RSS ≤ 55 MB, CPU ≤ 0.2%',
        met: r.max <= FOOTPRINT_TARGET.idleRssBytes && c.share <= FOOTPRINT_TARGET.idleCpuShare,
        data: { rssBytes: r.last, rssMaxBytes: r.max, cpuShare: c.share, cpuSeconds: c.cpuSeconds, windowSeconds: c.seconds },
      });
      ctx.log(`footprint: ${rows[rows.length - 1]!.value}`);
    }

    if (haveNginx) {
      // nginx's workers run as its own user when started as root: they must be able to get to the file.
      for (const d of [ctx.dir, base]) await chmod(d, 0o711);
      // Over TLS as the controller serves, with a certificate made for this run that curl checks.
      const cert = ctx.secure ? await makeLoopbackCertificate(join(base, 'nginx-tls')) : undefined;
      nginx = await Nginx.start(join(base, 'nginx'), join(base, 'releases'), cert ? { tls: cert } : {});
      curlCa = cert?.cert;
    }
    const bigName = `${APP}-${big.version}.tar.gz`;
    /** The baseline's fetch: over TLS when the plane runs it, as the agent's download does. */
    const curlBig = (n: Nginx, tls = curlCa !== undefined) =>
      tls ? curlSha256(n.tlsUrl(bigName), big.sha256, { cacert: curlCa as string }) : curlSha256(n.url(bigName), big.sha256);

    // 2. One fetch: curl, then the agent's deploy.
    let curlOneMs = NaN;
    if (nginx && opts.wanted('fetch')) {
      await sync();
      ctx.log(`fetch: curl | sha256sum from nginx${curlCa ? ' over TLS' : ''}`);
      curlOneMs = await curlBig(nginx);
    }
    await sync();
    ctx.log(`fetch: the agent deploys ${APP}@${big.version}`);
    resetPeakRss(a.pid);
    const deployRss = new RssSampler(a.pid, 50);
    const downloaded = agentLogs.waitFor((l) => l.msg === 'artifact downloaded and verified', 600_000);
    const unpacked = agentLogs.waitFor((l) => l.msg === 'release unpacked', 600_000);
    const deployStarted = performance.now();
    await deploy(plane, big.version);
    const fetchLine = await downloaded;
    const unpackLine = await unpacked;
    await waitRunning(plane, big.version, 600_000);
    const deployMs = performance.now() - deployStarted;
    const sampled = deployRss.stop();
    const peak = peakRssBytes(a.pid);
    const agentOneMs = Number(fetchLine.ms);

    if (opts.wanted('fetch')) {
      rows.push(
        fetchRow('fetch-1', `fetch + verify ${fmt.mb(big.size)}: one agent${ctx.secure ? ', over TLS' : ''}`, big.size, agentOneMs, curlOneMs, haveNginx ? [] : [noNginx], {
          agentLogMs: agentOneMs,
          curlMs: curlOneMs,
        }),
      );
      ctx.log(`fetch: ${rows[rows.length - 1]!.value} vs ${rows[rows.length - 1]!.baseline}`);
    }
    if (opts.wanted('footprint')) {
      rows.push({
        id: 'footprint-deploy',
        group: 'footprint',
        figure: `agent peak RSS: deploy of ${fmt.mb(big.size)}`,
        value: fmt.mb(peak),
        baseline: '—',
        ratio: '—',
        target: '≤ 150 MB',
        met: peak <= FOOTPRINT_TARGET.deployPeakRssBytes,
        data: {
          peakRssBytes: peak,
          sampledMaxRssBytes: sampled.max,
          rssAfterBytes: rssBytes(a.pid),
          deployMs,
          downloadMs: agentOneMs,
          unpackMs: Number(unpackLine.ms),
        },
      });
    }
    await a.stop();
    await killAppsOf(agentDir);
    agent = undefined;

    // 3. N at once: what serving costs the controller, against nginx.
    if (opts.wanted('fetch')) {
      const descriptorFile = join(base, 'descriptor.json');
      await writeFile(
        descriptorFile,
        JSON.stringify(signDescriptor(makeDescriptor({ app: APP, version: big.version, sha256: big.sha256, size: big.size }), plane.releaseKey.signer)),
      );
      await rm(agentDir, { recursive: true, force: true });
      await sync();
      const over = ctx.secure ? 'over TLS' : 'over plain TCP';
      ctx.log(`serve: ${opts.parallel} fetches at once through the agent's download code, ${over}`);
      const caches = Array.from({ length: opts.parallel }, (_, i) => join(base, `fetch-${i}`));
      // As the bench agent's host: the controller serves a host what is assigned to it, and the
      // big release still is.
      const served = await parallelFetch(plane.grpc, descriptorFile, plane.releaseKey.pubPath, caches, plane.agentEnv(AGENT_HOST), () => cpuSeconds(plane.pid));
      for (const dir of caches) await rm(dir, { recursive: true, force: true });
      const gib = (big.size * opts.parallel) / GIB;
      const ours = served.cpuSeconds / gib;
      const nginxRuns = nginx ? await nginxServeCpu(nginx, opts.parallel, gib, curlBig, ctx) : undefined;
      const theirs = nginxRuns?.tls ?? nginxRuns?.plain ?? NaN;
      const ratio = ours / theirs;
      const known = Number.isFinite(ratio);
      const perHour = 3600 / ours;
      const hostsHours = (PROJECTION_HOSTS * big.size) / GIB / perHour;
      rows.push({
        id: `fetch-${opts.parallel}`,
        group: 'fetch',
        figure: `serve ${opts.parallel} × ${fmt.mb(big.size)} at once ${over}: controller CPU per GiB`,
        value: `${ours.toFixed(2)} CPU-s/GiB (${fmt.mbps((big.size * opts.parallel) / (served.ms / 1000))})`,
        baseline: nginxRuns ? `nginx ${ctx.secure ? 'over TLS' : 'plain'}: ${theirs.toFixed(2)} CPU-s/GiB` : 'n/a',
        ratio: known ? fmt.ratio(ratio) : 'n/a',
        target: `ratio ≤ ${SERVE_CPU_TARGET_RATIO} (controller ÷ nginx)`,
        met: known ? ratio <= SERVE_CPU_TARGET_RATIO : null,
        notes: [
          `one core serves ${fmt.int(Math.round(perHour))} GiB an hour: ${fmt.mb(big.size)} to ${fmt.int(PROJECTION_HOSTS)} hosts takes ${(hostsHours * 60).toFixed(1)} min of one core`,
          ...(nginxRuns?.tls !== undefined && nginxRuns.plain !== undefined ? [`nginx plain: ${nginxRuns.plain.toFixed(2)} CPU-s/GiB (sendfile), over TLS ${nginxRuns.tls.toFixed(2)}`] : []),
          ...(haveNginx ? [] : [noNginx]),
        ],
        data: {
          parallel: opts.parallel,
          bytes: big.size * opts.parallel,
          controllerCpuSeconds: served.cpuSeconds,
          controllerCpuSecondsPerGiB: ours,
          fetchMs: served.ms,
          nginxCpuSecondsPerGiB: theirs,
          nginxTlsCpuSecondsPerGiB: nginxRuns?.tls ?? NaN,
          nginxPlainCpuSecondsPerGiB: nginxRuns?.plain ?? NaN,
          nginxTlsMs: nginxRuns?.tlsMs ?? NaN,
          ratio: known ? ratio : NaN,
          gibPerCoreHour: perHour,
          projectionHosts: PROJECTION_HOSTS,
          projectionCoreMinutes: hostsHours * 60,
          secure: ctx.secure ? 1 : 0,
        },
      });
      ctx.log(`serve: ${rows[rows.length - 1]!.value} vs ${rows[rows.length - 1]!.baseline}`);
    }

    // 4. Unpack.
    if (opts.wanted('unpack')) {
      const tarDir = join(base, 'unpack-tar');
      const ourDir = join(base, 'unpack-flotilla');
      await mkdir(tarDir, { recursive: true });
      await sync();
      ctx.log('unpack: tar -xzf');
      let t0 = performance.now();
      await run('tar', ['-xzf', big.path, '-C', tarDir], { maxBuffer: 1024 * 1024 });
      const tarMs = performance.now() - t0;
      await rm(tarDir, { recursive: true, force: true });
      await sync();
      ctx.log("unpack: the agent's unpackRelease");
      t0 = performance.now();
      await unpackRelease({ tarball: big.path, releasesDir: ourDir, version: big.version, logger: createLogger({ name: 'bench', level: 'silent' }) });
      const ourMs = performance.now() - t0;
      await rm(ourDir, { recursive: true, force: true });
      const ratio = tarMs / ourMs;
      rows.push({
        id: 'unpack',
        group: 'unpack',
        figure: `unpack ${fmt.mb(big.size)}: unpackRelease`,
        value: `${fmt.mbps(big.size / (ourMs / 1000))} (${fmt.s(ourMs)})`,
        baseline: `tar -xzf: ${fmt.mbps(big.size / (tarMs / 1000))} (${fmt.s(tarMs)})`,
        ratio: fmt.ratio(ratio),
        target: 'ratio ≥ 0.9',
        met: ratio >= UNPACK_TARGET_RATIO,
        data: { bytes: big.size, flotillaMs: ourMs, tarMs, ratio, agentDeployUnpackMs: Number(unpackLine.ms) },
      });
      ctx.log(`unpack: ${rows[rows.length - 1]!.value} vs ${rows[rows.length - 1]!.baseline}`);
    }
  } finally {
    await nginx?.stop();
    await agent?.stop();
    await killAppsOf(agentDir);
    await plane.stop();
  }
}

function fetchRow(
  id: string,
  figure: string,
  bytes: number,
  ourMs: number,
  curlMs: number,
  notes: string[],
  data: Record<string, number>,
): FigureRow {
  const ratio = curlMs / ourMs;
  const known = Number.isFinite(curlMs);
  return {
    id,
    group: 'fetch',
    figure,
    value: `${fmt.mbps(bytes / (ourMs / 1000))} (${fmt.s(ourMs)})`,
    baseline: known ? `nginx + curl | sha256sum${figure.includes('over TLS') ? ' (TLS)' : ''}: ${fmt.mbps(bytes / (curlMs / 1000))} (${fmt.s(curlMs)})` : 'n/a',
    ratio: known ? fmt.ratio(ratio) : 'n/a',
    target: 'ratio ≥ 1.0',
    met: known ? ratio >= FETCH_TARGET_RATIO : null,
    data: { bytes, flotillaMs: ourMs, curlMs: known ? curlMs : NaN, ratio: known ? ratio : NaN, ...data },
    ...(notes.length ? { notes } : {}),
  };
}

/** A release of the app: a small HTTP server with the manifest's default health check, plus `payloadBytes` random bytes. */
export async function buildRelease(base: string, version: string, payloadBytes: number): Promise<Release> {
  const manifest = {
    schema: 1,
    app: APP,
    version,
    start: { command: [process.execPath, 'server.mjs'], env: { PORT: '8080' } },
    stop: { signal: 'SIGTERM', timeout: '5s' },
    health: { http: { url: 'http://127.0.0.1:${PORT}/healthz' } },
  };
  const files: Record<string, ReleaseFile> = {
    'flotilla.json': `${JSON.stringify(manifest, null, 2)}\n`,
    'server.mjs': [
      "import { createServer } from 'node:http';",
      `const server = createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : ${JSON.stringify(version)}));`,
      "server.listen(Number(process.env.PORT), '127.0.0.1');",
      "process.on('SIGTERM', () => server.close(() => process.exit(0)));",
      '',
    ].join('\n'),
  };
  if (payloadBytes > 0) files['payload.bin'] = (path) => writeRandom(path, payloadBytes);
  const path = join(base, 'releases', `${APP}-${version}.tar.gz`);
  // Random bytes do not compress: deflate stores them at any level, so level 0 writes the same
  // kind of stream (stored blocks) without spending half a minute trying.
  await writeReleaseTarball(path, files, { gzipLevel: payloadBytes > 0 ? 0 : 6 });
  const { sha256, size } = await hashFile(path);
  return { version, path, sha256, size };
}

/** `bytes` random bytes at `path`, written a chunk at a time (a release may be a gigabyte). */
async function writeRandom(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const chunk = Buffer.allocUnsafe(16 * 1024 * 1024);
    for (let written = 0; written < bytes; ) {
      const n = Math.min(chunk.length, bytes - written);
      randomFillSync(chunk, 0, n);
      await fh.write(chunk, 0, n);
      written += n;
    }
  } finally {
    await fh.close();
  }
}

async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

async function deploy(plane: ControlPlane, version: string): Promise<void> {
  await unaryCall(plane.clients.control, 'Deploy', { app: APP, version, selector: 'role=bench', healthy_deadline: '10m', actor: 'bench' });
}

async function waitRunning(plane: ControlPlane, version: string, timeoutMs: number): Promise<void> {
  await waitUntil(
    `${APP}@${version} running and healthy`,
    async () => {
      const r = await unaryCall<{ selector: string }, ListHostsResponse__Output>(plane.clients.control, 'ListHosts', { selector: 'role=bench' });
      const app = r.hosts[0]?.apps.find((x) => x.app === APP);
      return app?.active_version === version && app.process_state === 'running' && app.health === 'healthy';
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** Bundles the agent as scripts/package.mjs does, under `dir`; returns the program's path. */
async function shippedAgent(dir: string): Promise<string> {
  const bundle = (await import(pathToFileURL(BUNDLE_SCRIPT).href)) as { bundleAgent: (share: string) => Promise<string> };
  return bundle.bundleAgent(dir);
}

async function sync(): Promise<void> {
  await run('sync', []);
}

/**
 * nginx's CPU-seconds per GiB for `parallel` curls at once: over TLS when the run has it, and over
 * plain HTTP (sendfile), which shows what TLS costs a server that need not touch the bytes.
 */
async function nginxServeCpu(
  nginx: Nginx,
  parallel: number,
  gib: number,
  curlBig: (n: Nginx, tls?: boolean) => Promise<number>,
  ctx: BenchContext,
): Promise<{ tls?: number; tlsMs?: number; plain: number }> {
  const measure = async (tls: boolean) => {
    await sync();
    ctx.log(`serve: ${parallel} curl | sha256sum at once from nginx${tls ? ' over TLS' : ''}`);
    const before = await nginx.cpuSeconds();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: parallel }, () => curlBig(nginx, tls)));
    const ms = performance.now() - t0;
    return { perGiB: ((await nginx.cpuSeconds()) - before) / gib, ms };
  };
  const plain = await measure(false);
  if (nginx.tlsPort === undefined) return { plain: plain.perGiB };
  const tls = await measure(true);
  return { tls: tls.perGiB, tlsMs: tls.ms, plain: plain.perGiB };
}

/**
 * Starts one fetch worker per cache dir (with `env`: its TLS files), waits until every one has
 * loaded (a resident agent has nothing to load), then lets them go together; resolves with the
 * time until the last verified and what `cpu` (the server's CPU-seconds) grew by meanwhile.
 */
export async function parallelFetch(
  controller: string,
  descriptorFile: string,
  trustedKey: string,
  caches: string[],
  env: Record<string, string>,
  cpu: () => number,
): Promise<{ ms: number; cpuSeconds: number }> {
  const workers = caches.map((cacheDir) => {
    const child = spawn(process.execPath, [FETCH_WORKER, controller, descriptorFile, trustedKey, cacheDir], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let err = '';
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const lines = createInterface({ input: child.stdout! });
    const ready = new Promise<void>((resolve) => lines.once('line', () => resolve()));
    const done = new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => (code === 0 ? resolve(performance.now()) : reject(new Error(`fetch worker exited ${code}: ${err.trim()}`))));
    });
    done.catch(() => undefined);
    return { child, ready, done };
  });
  await Promise.race([Promise.all(workers.map((w) => w.ready)), ...workers.map((w) => w.done.then(() => Promise.reject(new Error('a fetch worker exited before it was ready'))))]);
  const cpu0 = cpu();
  const t0 = performance.now();
  for (const w of workers) w.child.stdin?.end('go\n');
  const ends = await Promise.all(workers.map((w) => w.done));
  return { ms: Math.max(...ends) - t0, cpuSeconds: cpu() - cpu0 };
}
