import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { renderUpstream } from '@flotilla/agent';
import { Nginx } from './bench/nginx.js';

const picked = new Set<number>();

/**
 * A free loopback port below the kernel's ephemeral range, for a slot that is listened on long
 * after it is picked. A port from the ephemeral range (what port 0 gives) can meanwhile become
 * the local end of an outgoing connection, and a load generator opening 300 connections a
 * second makes that likely: the release started in that slot then fails with EADDRINUSE.
 */
export async function slotPort(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999');
  const ephemeralLow = Number(range.trim().split(/\s+/)[0]) || 32768;
  const low = 10_000;
  const high = Math.max(low + 1000, ephemeralLow);
  for (let tries = 0; tries < 200; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (picked.has(port) || !(await bindable(port))) continue;
    picked.add(port);
    return port;
  }
  throw new Error(`no free port between ${low} and ${high} after 200 tries`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Where one host of the front serves the app: its two slots and its own upstream. */
export interface FrontHost {
  readonly hostId: string;
  readonly slotPorts: readonly [number, number];
  /** The upstream this host's agent writes (`apps.<app>.traffic.nginx.upstream`). */
  readonly upstream: string;
  /** The upstream file this host's agent writes (`apps.<app>.traffic.nginx.includeFile`). */
  readonly includeFile: string;
  /** The agent's config file: nginx as its balancer, and the app's slots and upstream on this host. */
  readonly config: string;
}

/**
 * One Debian nginx on loopback in front of several hosts of a local fleet, the way a site puts
 * a balancer in front of its machines: every host runs the app in two slots of its own, its agent
 * writes its own upstream file (per-host `apps.<app>.traffic` settings, since the hosts share
 * this machine's ports and this nginx), and nginx spreads requests evenly over the hosts.
 */
export class TrafficFront {
  private constructor(
    readonly nginx: Nginx,
    readonly hosts: readonly FrontHost[],
  ) {}

  /**
   * Starts nginx and writes each host's agent config. Each upstream file starts as a host that
   * served the app in slot a would have it, so nginx has every upstream before the first request.
   */
  static async start(dir: string, app: string, hostIds: readonly string[], opts: { drainWait?: string } = {}): Promise<TrafficFront> {
    const includeDir = join(dir, 'upstreams');
    await mkdir(includeDir, { recursive: true });
    const hosts: FrontHost[] = [];
    for (const hostId of hostIds) {
      const slotPorts = [await slotPort(), await slotPort()] as const;
      const upstream = `flotilla_${app}_${hostId.replace(/[^A-Za-z0-9_]/g, '_')}`;
      const includeFile = join(includeDir, `flotilla-${app}-${hostId}.conf`);
      await writeFile(
        includeFile,
        renderUpstream(
          app,
          [
            { slot: 'a', address: `127.0.0.1:${slotPorts[0]}`, weight: 100 },
            { slot: 'b', address: `127.0.0.1:${slotPorts[1]}`, weight: 0 },
          ],
          { stickiness: 'none', keepalive: 16, upstream },
        ),
      );
      hosts.push({ hostId, slotPorts, upstream, includeFile, config: join(dir, `agent-${hostId}.yaml`) });
    }
    const nginx = await Nginx.startSplit(join(dir, 'nginx'), includeDir, hosts.map((h) => h.upstream));
    for (const h of hosts) {
      const config = {
        traffic: {
          balancer: 'nginx',
          nginx: { includeDir, testCommand: nginx.testCommand, reloadCommand: nginx.reloadCommand },
          drainWait: opts.drainWait ?? '500ms',
        },
        apps: {
          [app]: {
            traffic: {
              slots: h.slotPorts.map((port) => ({ port })),
              nginx: { includeFile: h.includeFile, upstream: h.upstream },
            },
          },
        },
      };
      // JSON is YAML: the agent reads it as its --config file.
      await writeFile(h.config, `${JSON.stringify(config, null, 2)}\n`);
    }
    return new TrafficFront(nginx, hosts);
  }

  /** `--config FILE` for the agent of host i. */
  agentArgs(i: number): string[] {
    const h = this.hosts[i];
    if (!h) throw new Error(`no host ${i} in front of nginx`);
    return ['--config', h.config];
  }

  url(path = ''): string {
    return this.nginx.url(path);
  }

  stop(): Promise<void> {
    return this.nginx.stop();
  }
}
