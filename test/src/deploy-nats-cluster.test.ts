import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NATS_SERVER_BIN } from './nats-server.js';
import { REPO_ROOT } from './package-install.js';
import { runToExit } from './spawn.js';

// deploy/nats/cluster/: three node configs the installed nats-server accepts, routed to each
// other, flushing every write, with the single-server config's users and permissions.
const DIR = join(REPO_ROOT, 'deploy', 'nats', 'cluster');
const nodes = [1, 2, 3].map((i) => join(DIR, `nats-server-${i}.conf`));

describe('the three-node NATS cluster config', () => {
  it('is valid for the installed nats-server, node by node', async () => {
    for (const conf of nodes) {
      const r = await runToExit(NATS_SERVER_BIN, ['-c', conf, '-t'], { timeoutMs: 10_000 });
      expect(r.code, `${conf}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('names each node once, routes every node to all three, and syncs every write', async () => {
    const texts = await Promise.all(nodes.map((n) => readFile(n, 'utf8')));
    expect(texts.map((t) => /^server_name: (\S+)$/m.exec(t)?.[1])).toEqual(['nats-1', 'nats-2', 'nats-3']);
    for (const t of texts) {
      expect(t.match(/nats-route:\/\/\S+@nats-\d\.example:6222/g)).toHaveLength(3);
      expect(t).toMatch(/sync_interval: always/);
    }
  });

  it('gives the users the same permissions as the single-server config', async () => {
    const block = (t: string) => t.slice(t.indexOf('authorization {')).replace(/^\s*#.*$/gm, '').replace(/\s+/g, ' ').trim();
    const single = await readFile(join(REPO_ROOT, 'deploy', 'nats', 'nats-server.conf'), 'utf8');
    const cluster = await readFile(join(DIR, 'authorization.conf'), 'utf8');
    expect(block(cluster)).toBe(block(single));
  });
});
