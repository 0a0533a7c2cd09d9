import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../agent-process.js';
import { sleep } from './context.js';

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

/**
 * Debian's nginx with a configuration of its own in a temp dir, serving `root` on a free
 * loopback port: the stock way to serve a file (sendfile, no access log), with the package's
 * default worker count.
 */
export class Nginx {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly output: { text: string },
  ) {}

  static async start(dir: string, root: string): Promise<Nginx> {
    await mkdir(dir, { recursive: true });
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    // Workers drop to nginx's default user when started as root: let them read the files.
    await chmod(dir, 0o755);
    await chmod(root, 0o755);
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
        '  sendfile on;',
        '  tcp_nopush on;',
        '  default_type application/octet-stream;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, `${t}-temp`)};`),
        `  server { listen 127.0.0.1:${port}; root ${root}; location / { } }`,
        '}',
        '',
      ].join('\n'),
    );
    const child = spawn(NGINX_BIN, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = { text: '' };
    const keep = (b: Buffer) => (output.text = (output.text + b.toString()).slice(-4096));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const nginx = new Nginx(child, port, output);
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) break;
      if (await canConnect(port)) return nginx;
      await sleep(25);
    }
    child.kill('SIGKILL');
    const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    throw new Error(`nginx did not start: ${output.text}${log}`);
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}/${path}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    // SIGTERM is nginx's fast shutdown; the master takes its workers with it.
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The baseline fetch: `curl URL | sha256sum`, timed from spawn to exit. Rejects when either
 * fails or the digest is not `sha256`.
 */
export function curlSha256(url: string, sha256: string): Promise<number> {
  const started = performance.now();
  const child = spawn('bash', ['-c', 'set -o pipefail; curl -sS --fail "$1" | sha256sum', 'curl-sha256', url], {
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
