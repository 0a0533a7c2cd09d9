import type { Rollout__Output } from '@flotilla/proto';
import { waitUntil } from '../deadline.js';
import { Fleet } from '../fleet.js';
import { markedProcesses } from '../marked-processes.js';
import { tcpProxy, type TcpProxy } from '../tcp-proxy.js';

/** A fleet whose last host reaches NATS only through a proxy the test can cut. */
export interface PartitionFleet {
  readonly fleet: Fleet;
  readonly proxy: TcpProxy;
  /** Index of the host behind the proxy. */
  readonly behind: number;
  stop(): Promise<void>;
}

export interface PartitionTry {
  readonly rolloutId: string;
  /** Each a plain sentence; empty when the try survived. */
  readonly problems: string[];
  /** Hosts left off the version the fleet ended on after the heal. */
  readonly stranded: number;
  /** Hosts found running two processes of the app. */
  readonly duplicates: number;
  /** Hosts not holding the assignment the controller recorded after the heal. */
  readonly lostAcks: number;
  readonly ms: number;
}

/** Three hosts on demo 1.0.0 with 2.0.0 pushed; host-3 speaks to NATS through the proxy. */
export async function startPartitionFleet(log?: (message: string) => void): Promise<PartitionFleet> {
  const agents = 3;
  const behind = agents - 1;
  let proxyUrl = '';
  // The agent's last --nats wins: host-3 gets the proxy's address instead of the server's.
  const fleet = await Fleet.start({ agents, heartbeatInterval: '500ms', logLevel: 'warn', startAgents: false, agentArgs: (i) => (i === behind ? ['--nats', proxyUrl] : []) });
  let proxy: TcpProxy | undefined;
  try {
    proxy = await tcpProxy(Number(new URL(fleet.nats.url).port));
    proxyUrl = `nats://127.0.0.1:${proxy.port}`;
    for (let i = 0; i < agents; i++) fleet.startAgent(i);
    await fleet.waitForHostsUp();
    for (const v of ['1.0.0', '2.0.0']) await fleet.push(v);
    await fleet.run(['deploy', 'demo@1.0.0', '--wait-timeout', '60s']);
    await fleet.waitForVersionEverywhere('1.0.0');
    log?.(`fleet of ${agents} up on demo@1.0.0, host-${behind + 1} behind a proxy`);
  } catch (err) {
    await proxy?.close();
    await fleet.stop();
    throw err;
  }
  const p = proxy;
  return { fleet, proxy: p, behind, stop: async () => { await fleet.stop(); await p.close(); } };
}

const TERMINAL = ['succeeded', 'failed', 'reverted', 'aborted'];

/**
 * Starts a rollout to the version the fleet is not on and cuts the proxied host off NATS at once:
 * the controller must mark it down, the rollout must not count it as passed unless it passed before
 * the cut, and once the proxy heals the host must come back up holding the assignment the
 * controller recorded, serving the version the rest of the fleet serves, with one process.
 */
export async function partitionTry(pf: PartitionFleet): Promise<PartitionTry> {
  const { fleet, proxy, behind } = pf;
  const started = Date.now();
  const problems: string[] = [];
  let stranded = 0;
  let duplicates = 0;
  let lostAcks = 0;
  const hostId = fleet.agents[behind]!.hostId;
  const from = (await fleet.answer(0))?.version ?? '1.0.0';
  const version = from === '2.0.0' ? '1.0.0' : '2.0.0';
  const start = await fleet.cli([
    'rollout', 'start', `demo@${version}`,
    '--canary', '1', '--batch', '1', '--min-healthy-time', '1s', '--canary-bake', '0s', '--bake', '500ms',
    '--healthy-deadline', '60s', '--force', '--json',
  ]);
  if (start.code !== 0) throw new Error(`rollout start failed:\n${start.stdout}${start.stderr}`);
  const id = (JSON.parse(start.stdout) as { rollout: Rollout__Output }).rollout.id;
  try {
    proxy.cut();
    const atCut = await fleet.rollout({ id });
    const passedBeforeCut = atCut.hosts.find((h) => h.host_id === hostId)?.state === 'passed';
    await waitUntil(`${hostId} marked down`, async () => (await fleet.hosts()).find((h) => h.host_id === hostId)?.state === 'down', {
      timeoutMs: 60_000,
      intervalMs: 200,
    }).catch(() => problems.push(`${hostId} was never marked down while cut off`));
    const done = await fleet.waitForRollout(id, 'finished', (r) => TERMINAL.includes(r.status), 180_000);
    const mine = done.hosts.find((h) => h.host_id === hostId);
    if (!passedBeforeCut && mine?.state === 'passed') problems.push(`rollout ${id} counted ${hostId} as passed while it was cut off`);
    if (!passedBeforeCut && done.status === 'succeeded') problems.push(`rollout ${id} succeeded with ${hostId} cut off`);
    proxy.heal();
    await waitUntil(`${hostId} up again`, async () => (await fleet.hosts()).find((h) => h.host_id === hostId)?.state === 'up', {
      timeoutMs: 60_000,
      intervalMs: 200,
    }).catch(() => problems.push(`${hostId} did not come back up after the heal`));
    await waitUntil('every host to hold its recorded assignment', async () => (await fleet.hosts()).every((h) => h.accepted_seq === h.assignment_seq), {
      timeoutMs: 60_000,
      intervalMs: 200,
    }).catch(() => {
      lostAcks++;
      problems.push('a host does not hold the assignment the controller recorded');
    });
    const end = done.status === 'succeeded' ? version : from;
    await fleet.waitForVersionEverywhere(end, 60_000).catch(() => undefined);
    for (let i = 0; i < fleet.agents.length; i++) {
      const answer = await fleet.answer(i);
      if (answer?.version !== end) {
        stranded++;
        problems.push(`${fleet.agents[i]!.hostId} serves ${answer?.version ?? 'nothing'}, not demo@${end}, after the heal (rollout ${done.status})`);
      }
      const pids = markedProcesses(fleet.agents[i]!.dataDir);
      if (pids.length !== 1) {
        if (pids.length > 1) duplicates++;
        problems.push(`${fleet.agents[i]!.hostId} runs ${pids.length} processes of demo (${pids.join(', ')})`);
      }
    }
  } catch (err) {
    problems.push(err instanceof Error ? (err.message.split('\n')[0] as string) : String(err));
  } finally {
    proxy.heal();
  }
  return { rolloutId: id, problems, stranded, duplicates, lostAcks, ms: Date.now() - started };
}
