import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NginxUpstreams, renderUpstream, upstreamName, type SlotWeight } from '@flotilla/agent';
import { BalancerError, createLogger } from '@flotilla/shared';
import { freePort, tempDir } from './agent-process.js';
import { Nginx, nginxAvailable } from './bench/nginx.js';
import { LoadGenerator, type LoadCounts } from './load.js';

// The agent's nginx module against Debian's nginx, with two stand-in slots answering "old" and
// "new" and a load generator going through nginx the whole time.

const log = createLogger({ name: 'test', level: 'silent' });
const APP = 'web';

let dir: string;
let includeDir: string;
let nginx: Nginx;
let load: LoadGenerator;
const slots: { address: string; server: Server }[] = [];

function serve(body: string, port: number): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

const weights = (newPercent: number): SlotWeight[] => [
  { slot: 'a', address: slots[0]!.address, weight: 100 - newPercent },
  { slot: 'b', address: slots[1]!.address, weight: newPercent },
];

function upstreams(stickiness: 'none' | 'ip_hash' = 'none'): NginxUpstreams {
  return new NginxUpstreams(
    { nginx: { includeDir, testCommand: nginx.testCommand, reloadCommand: nginx.reloadCommand, commandTimeoutMs: 20_000 }, stickiness, keepalive: 8 },
    log,
  );
}

/**
 * The answers of the next `n` requests once nginx's old workers have let go: `nginx -s reload`
 * returns when the signal is sent, so the first answers after it may still come from old workers.
 */
async function share(n: number): Promise<LoadCounts> {
  await nginx.settled();
  return load.next(n);
}

const newShare = (w: LoadCounts): number => (w.byBody.new ?? 0) / w.total;

beforeAll(async () => {
  if (!(await nginxAvailable())) throw new Error('nginx is not installed: run scripts/ensure-deps.sh --bench');
  dir = await tempDir('traffic-nginx');
  includeDir = join(dir, 'upstreams');
  for (const body of ['old', 'new']) {
    const port = await freePort();
    slots.push({ address: `127.0.0.1:${port}`, server: await serve(body, port) });
  }
  // nginx will not start while proxy_pass names an upstream nobody defined: the file an agent
  // would have written for a host that runs only the old release.
  await mkdir(includeDir, { recursive: true });
  await writeFile(join(includeDir, `flotilla-${APP}.conf`), renderUpstream(APP, weights(0), { stickiness: 'none', keepalive: 8 }));
  nginx = await Nginx.startProxy(join(dir, 'nginx'), includeDir, upstreamName(APP));
}, 60_000);

afterAll(async () => {
  await load?.stop();
  await nginx?.stop();
  for (const s of slots) s.server.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nginx upstreams written by the agent', () => {
  it('moves traffic 10% → 50% → 100% by weight with no failed request', async () => {
    const u = upstreams();
    await u.apply(APP, weights(0));
    load = LoadGenerator.start(nginx.url(''), { ratePerSecond: 300 });
    const all = (await share(200)).byBody;
    expect(all).toEqual({ old: expect.any(Number) });

    for (const percent of [10, 50, 100]) {
      await u.apply(APP, weights(percent));
      const w = await share(600);
      expect(Math.abs(newShare(w) - percent / 100), `share at ${percent}%: ${JSON.stringify(w)}`).toBeLessThan(0.04);
      expect(w.failed).toBe(0);
    }
    expect(load.failures).toEqual([]);
  });

  it('keeps the previous config live when nginx refuses, and fails with nginx own words', async () => {
    const u = upstreams();
    await u.apply(APP, weights(10));
    const before = await readFile(u.path(APP), 'utf8');
    const broken = join(includeDir, 'zz-broken.conf');
    await writeFile(broken, 'bogus_directive_placed_by_the_test on;\n');
    try {
      const err = await u.apply(APP, weights(50)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BalancerError);
      expect((err as Error).message).toMatch(/nginx refused the upstream for web \(test\): .*unknown directive "bogus_directive_placed_by_the_test"/);
      expect(await readFile(u.path(APP), 'utf8')).toBe(before);
      const w = await share(400);
      expect(Math.abs(newShare(w) - 0.1), JSON.stringify(w)).toBeLessThan(0.04);
      expect(w.failed).toBe(0);
    } finally {
      await rm(broken, { force: true });
    }
    expect(load.failures).toEqual([]);
  });

  it('holds each client on its slot under ip_hash across a weight change that keeps it there', async () => {
    const u = upstreams('ip_hash');
    await u.apply(APP, weights(50));
    await share(100);
    // ip_hash keys on the first three octets: one client per /24 of the loopback range.
    const clients = Array.from({ length: 24 }, (_, i) => `127.0.${i + 1}.1`);
    const seen = async (): Promise<Map<string, Set<string>>> => {
      const m = new Map<string, Set<string>>();
      for (const c of clients) {
        const bodies = new Set<string>();
        for (let i = 0; i < 6; i++) bodies.add(await getFrom(nginx.url(''), c));
        m.set(c, bodies);
      }
      return m;
    };
    const first = await seen();
    for (const [c, bodies] of first) expect(bodies.size, `client ${c} saw ${[...bodies].join(',')}`).toBe(1);
    const onNew = clients.filter((c) => first.get(c)!.has('new'));
    expect(onNew.length).toBeGreaterThan(0);
    // More weight to "new" keeps every client that was on it there (nginx walks the weights in order).
    await u.apply(APP, weights(60));
    await share(100);
    const second = await seen();
    for (const c of clients) expect(second.get(c)!.size, `client ${c}`).toBe(1);
    for (const c of onNew) expect([...second.get(c)!], `client ${c}`).toEqual(['new']);
    expect(load.failures).toEqual([]);
  });
});

function getFrom(url: string, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode} ${body}`))));
    });
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', reject);
    req.end();
  });
}
