// Debian's nginx in front of one app's two slots, as a host with `traffic.balancer: nginx` has
// it: shared by the traffic tests and the traffic benchmark, which must measure the same set-up.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderUpstream, upstreamName } from '@flotilla/agent';
import { Nginx } from './bench/nginx.js';
import type { LoadCounts } from './load.js';

export interface SlotsNginx {
  readonly nginx: Nginx;
  /** Where the agent writes the app's upstream file (`traffic.nginx.includeDir`). */
  readonly includeDir: string;
  /** Writes an agent config file that drives this nginx; returns its path (for `--config`). */
  writeAgentConfig(path: string, opts?: { drainWait?: string }): Promise<string>;
  /** Resolves once the workers an earlier reload replaced have ended (bounded by `timeoutMs`). */
  settled(timeoutMs?: number): Promise<void>;
}

/**
 * Starts nginx under `dir` proxying to `app`'s upstream, with the upstream file already in place
 * as a host that served the app from slot a would have it: nginx does not start while
 * `proxy_pass` names an upstream nobody defined.
 */
export async function startSlotsNginx(dir: string, app: string, ports: readonly [number, number]): Promise<SlotsNginx> {
  const includeDir = join(dir, 'nginx-upstreams');
  await mkdir(includeDir, { recursive: true });
  await writeFile(
    join(includeDir, `flotilla-${app}.conf`),
    renderUpstream(
      app,
      [
        { slot: 'a', address: `127.0.0.1:${ports[0]}`, weight: 100 },
        { slot: 'b', address: `127.0.0.1:${ports[1]}`, weight: 0 },
      ],
      { stickiness: 'none', keepalive: 16 },
    ),
  );
  const nginx = await Nginx.startProxy(join(dir, 'nginx'), includeDir, upstreamName(app));
  return {
    nginx,
    includeDir,
    async writeAgentConfig(path, { drainWait = '500ms' } = {}) {
      await writeFile(
        path,
        JSON.stringify({ traffic: { balancer: 'nginx', nginx: { includeDir, testCommand: nginx.testCommand, reloadCommand: nginx.reloadCommand }, drainWait } }),
      );
      return path;
    },
    async settled(timeoutMs = 20_000) {
      await nginx.settled(timeoutMs);
    },
  };
}

/** Answers by version, from the demo app's `{version, pid}` bodies. */
export function answersByVersion(w: LoadCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [body, n] of Object.entries(w.byBody)) {
    if (n === 0) continue;
    const version = (JSON.parse(body) as { version: string }).version;
    out[version] = (out[version] ?? 0) + n;
  }
  return out;
}
