import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../agent-process.js';
import { waitUntil } from '../deadline.js';
import { listening, spawnReady, type Spawned } from '../spawn.js';
import { cpuSeconds } from './proc.js';

const run = promisify(execFile);

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
      return new Nginx(proc, port, args, tlsPort);
    } catch (err) {
      const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
      throw new Error(`${(err as Error).message}\n${log}`);
    }
  }

  /**
   * Worker processes a reload retired that are still finishing their requests: nginx renames
   * each to "nginx: worker process is shutting down". None left means only the configuration
   * loaded last answers. (Counting workers instead races with nginx starting its workers.)
   */
  async retiringWorkers(): Promise<number> {
    const pid = this.proc.child.pid as number;
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter((s) => s !== '');
    let retiring = 0;
    for (const child of children) {
      // A worker that ended between the two reads is no longer retiring.
      const title = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
      if (title.includes('shutting down')) retiring++;
    }
    return retiring;
  }

  /** Resolves once no worker a reload retired is left (bounded by `timeoutMs`, scaled). */
  async settled(timeoutMs = 20_000): Promise<void> {
    await waitUntil('nginx old workers to finish', async () => (await this.retiringWorkers()) === 0, { timeoutMs, intervalMs: 100 });
  }

  /** `nginx -t` for this instance, as an agent's traffic.nginx.testCommand. */
  get testCommand(): string[] {
    return [NGINX_BIN, ...this.args, '-t'];
  }

  /** `nginx -s reload` for this instance, as an agent's traffic.nginx.reloadCommand. */
  get reloadCommand(): string[] {
    return [NGINX_BIN, ...this.args, '-s', 'reload'];
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
