import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../agent-process.js';
import { waitUntil } from '../deadline.js';
import { listening, spawnReady, type Spawned } from '../spawn.js';
import { cpuSeconds } from './proc.js';

const run = promisify(execFile);

/** USER_HZ: the unit of the start time in /proc/<pid>/stat, 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Where Debian's nginx package puts the binary; NGINX_BIN overrides. */
export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

export async function nginxAvailable(): Promise<boolean> {
  try {
    await readFile(NGINX_BIN);
    return true;
  } catch {
    return false;
  }
}

/** A certificate for 127.0.0.1 and its key, made for one run. */
export interface ServerCertificate {
  cert: string;
  key: string;
}

/**
 * A self-signed P-256 certificate for IP 127.0.0.1 (and its key) under `dir`, made with openssl:
 * what a client verifies with `--cacert cert`.
 */
export async function makeLoopbackCertificate(dir: string): Promise<ServerCertificate> {
  await mkdir(dir, { recursive: true });
  const cert = join(dir, 'loopback.pem');
  const key = join(dir, 'loopback-key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ]);
  // nginx's workers drop to its own user when started as root.
  await chmod(key, 0o644);
  return { cert, key };
}

/**
 * Debian's nginx with a configuration of its own in a temp dir, serving `root` on a free
 * loopback port: the stock way to serve a file (sendfile, no access log), with the package's
 * default worker count. With `tls`, the same files also over HTTPS on `tlsPort` with nginx's
 * default protocols and ciphers (sendfile does not apply there: the bytes are encrypted in user
 * space, as the controller's are).
 */
export class Nginx {
  private constructor(
    private readonly proc: Spawned,
    readonly port: number,
    private readonly args: readonly string[],
    /** Where `reloadCommand` notes the time of each reload it asks for (see `settled`). */
    private readonly reloadsFile: string,
    /** The HTTPS port when started with `tls`. */
    readonly tlsPort?: number,
  ) {}

  static async start(dir: string, root: string, opts: { tls?: ServerCertificate } = {}): Promise<Nginx> {
    await chmod(root, 0o755);
    const tlsPort = opts.tls ? await freePort() : undefined;
    const tls = opts.tls;
    return Nginx.startWith(
      dir,
      (port) => [
        '  sendfile on;',
        '  tcp_nopush on;',
        '  default_type application/octet-stream;',
        `  server { listen 127.0.0.1:${port}; root ${root}; location / { } }`,
        ...(tls && tlsPort
          ? [`  server { listen 127.0.0.1:${tlsPort} ssl; ssl_certificate ${tls.cert}; ssl_certificate_key ${tls.key}; root ${root}; location / { } }`]
          : []),
      ],
      tlsPort,
    );
  }

  /**
   * nginx as the balancer in front of an app: every `*.conf` in `includeDir` is included in the
   * http block (where the agent writes its upstream files), and `/` goes to `upstream`.
   */
  static async startProxy(dir: string, includeDir: string, upstream: string): Promise<Nginx> {
    await mkdir(includeDir, { recursive: true });
    return Nginx.startWith(dir, (port) => [
      `  include ${join(includeDir, '*.conf')};`,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    location / {',
      `      proxy_pass http://${upstream};`,
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '    }',
      '  }',
    ]);
  }

  /**
   * nginx in front of several hosts, each with its own upstream in `includeDir` (an agent's,
   * `apps.<app>.traffic.nginx.upstream`): requests are spread evenly over the upstreams by their
   * request id. A name in `proxy_pass` through a variable is looked up among the upstreams when a
   * request comes, so nginx starts before the agents wrote theirs.
   */
  static async startSplit(dir: string, includeDir: string, upstreams: readonly string[]): Promise<Nginx> {
    await mkdir(includeDir, { recursive: true });
    const share = `${(100 / upstreams.length).toFixed(2)}%`;
    return Nginx.startWith(dir, (port) => [
      `  include ${join(includeDir, '*.conf')};`,
      '  split_clients "${request_id}" $flotilla_upstream {',
      ...upstreams.map((u, i) => `    ${i === upstreams.length - 1 ? '*' : share} ${u};`),
      '  }',
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    location / {',
      '      proxy_pass http://$flotilla_upstream;',
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '    }',
      '  }',
    ]);
  }

  private static async startWith(dir: string, http: (port: number) => string[], tlsPort?: number): Promise<Nginx> {
    await mkdir(dir, { recursive: true });
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    // Workers drop to nginx's default user when started as root: let them read the files.
    await chmod(dir, 0o755);
    await writeFile(
      conf,
      [
        'daemon off;',
        'worker_processes auto;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'error.log')} warn;`,
        'events { worker_connections 256; }',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, `${t}-temp`)};`),
        ...http(port),
        '}',
        '',
      ].join('\n'),
    );
    const args = ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')];
    try {
      const { proc } = await spawnReady({
        what: 'nginx',
        command: NGINX_BIN,
        args,
        keepBytes: 4096,
        readyTimeoutMs: 5000,
        ready: async () => ((await listening(port)) && (tlsPort === undefined || (await listening(tlsPort))) ? true : undefined),
      });
      return new Nginx(proc, port, args, join(dir, 'reloads'), tlsPort);
    } catch (err) {
      const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
      throw new Error(`${(err as Error).message}\n${log}`);
    }
  }

  /**
   * Resolves once only workers of the configuration loaded last answer (bounded by `timeoutMs`,
   * scaled): every worker started after the last reload `reloadCommand` asked for, and none left
   * that a reload retired. `nginx -s reload` returns once the signal is sent, before the master has
   * read the new configuration, so "no retiring worker" alone can hold while the old workers have
   * not even been told to go.
   */
  async settled(timeoutMs = 20_000): Promise<void> {
    const asked = await this.lastReloadTicks();
    await waitUntil(
      'nginx to answer from the configuration loaded last only',
      async () => {
        const workers = await this.workerStarts();
        return workers.length > 0 && workers.every((w) => !w.retiring && w.startTicks >= asked);
      },
      { timeoutMs, intervalMs: 50 },
    );
  }

  /**
   * When `reloadCommand` last asked for a reload, in clock ticks since boot (0 when it never did):
   * the clock of a process's start time in /proc/<pid>/stat. Both are truncated to the tick, so a
   * worker started after the request never reads as earlier.
   */
  private async lastReloadTicks(): Promise<number> {
    const lines = (await readFile(this.reloadsFile, 'utf8').catch(() => '')).trim().split('\n');
    const last = lines[lines.length - 1] ?? '';
    return last === '' ? 0 : Math.round(Number(last) * CLOCK_TICKS_PER_SECOND);
  }

  /** The master's children (its workers) with their start time and whether a reload retired them. */
  private async workerStarts(): Promise<{ startTicks: number; retiring: boolean }[]> {
    const pid = this.proc.child.pid as number;
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter((s) => s !== '');
    const out: { startTicks: number; retiring: boolean }[] = [];
    for (const child of children) {
      // A worker that ended between the reads is no longer one.
      const [title, stat] = await Promise.all([
        readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => null),
        readFile(`/proc/${child}/stat`, 'utf8').catch(() => null),
      ]);
      if (title === null || stat === null) continue;
      // Field 22 (starttime); the fields after the ")" that closes the command name start at 3.
      const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3]);
      out.push({ startTicks, retiring: title.includes('shutting down') });
    }
    return out;
  }

  /** `nginx -t` for this instance, as an agent's traffic.nginx.testCommand. */
  get testCommand(): string[] {
    return [NGINX_BIN, ...this.args, '-t'];
  }

  /**
   * `nginx -s reload` for this instance, as an agent's traffic.nginx.reloadCommand: run through a
   * shell that first notes the time since boot (/proc/uptime) in `reloadsFile`, so that `settled`
   * knows which workers are older than the reload asked for.
   */
  get reloadCommand(): string[] {
    const script = 'f=$1; shift; read -r up rest </proc/uptime && echo "$up" >>"$f" && exec "$@"';
    return ['/bin/sh', '-c', script, 'nginx-reload', this.reloadsFile, NGINX_BIN, ...this.args, '-s', 'reload'];
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}/${path}`;
  }

  /** The HTTPS address of `path` (started with `tls`). */
  tlsUrl(path: string): string {
    if (this.tlsPort === undefined) throw new Error('nginx was started without tls');
    return `https://127.0.0.1:${this.tlsPort}/${path}`;
  }

  /** CPU time (user + system) of the master and its workers so far, in seconds: what serving cost. */
  async cpuSeconds(): Promise<number> {
    const pid = this.proc.child.pid as number;
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter((s) => s !== '');
    return [pid, ...children.map(Number)].reduce((sum, p) => sum + cpuSeconds(p), 0);
  }

  async stop(): Promise<void> {
    // SIGTERM is nginx's fast shutdown; the master takes its workers with it.
    await this.proc.stop('SIGTERM', 5000);
  }
}

/**
 * The baseline fetch: `curl URL | sha256sum`, timed from spawn to exit; over HTTPS, curl checks
 * the server against `cacert`. Rejects when either fails or the digest is not `sha256`.
 */
export function curlSha256(url: string, sha256: string, opts: { cacert?: string } = {}): Promise<number> {
  const started = performance.now();
  const ca = opts.cacert ? ['--cacert', opts.cacert] : [];
  const child = spawn('bash', ['-c', 'set -o pipefail; curl -sS --fail "${@:2}" "$1" | sha256sum', 'curl-sha256', url, ...ca], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`curl | sha256sum exited ${code}: ${out.trim()}`));
      else if (!out.startsWith(sha256)) reject(new Error(`curl | sha256sum gave ${out.trim()}, expected ${sha256}`));
      else resolve(ms);
    });
  });
}
