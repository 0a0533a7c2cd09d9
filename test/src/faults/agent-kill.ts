import { waitUntil } from '../deadline.js';
import type { Fleet } from '../fleet.js';
import { markedProcesses } from '../marked-processes.js';

/** The install steps after which the agent's fault hook SIGKILLs it (FLOTILLA_FAULT_KILL_AFTER_STEP). */
export const AGENT_KILL_POINTS = ['download', 'stop-old', 'switch-current', 'start-new', 'persist', 'post-start'] as const;
export type AgentKillPoint = (typeof AGENT_KILL_POINTS)[number];

export interface AgentKillTry {
  readonly point: AgentKillPoint;
  readonly version: string;
  /** Each a plain sentence; empty when the try survived. */
  readonly problems: string[];
  readonly stranded: number;
  readonly duplicates: number;
  readonly lostAcks: number;
  /** The hook killed the agent while it started, before the deploy reached it. */
  readonly killedEarly: boolean;
  readonly ms: number;
}

/**
 * Pushes `version` (new, so that every step, the download too, runs), restarts host-1's agent with
 * the hook that SIGKILLs it after `point`, deploys the version, starts the agent again once it
 * died, and checks: every host serves the version, holds the assignment the controller recorded,
 * and runs exactly one process of the app.
 */
export async function agentKillTry(fleet: Fleet, point: AgentKillPoint, version: string): Promise<AgentKillTry> {
  const started = Date.now();
  const problems: string[] = [];
  let stranded = 0;
  let duplicates = 0;
  let lostAcks = 0;
  let killedEarly = false;
  const victim = 0;
  try {
    await fleet.push(version);
    await fleet.agents[victim]!.process?.stop();
    const killed = fleet.startAgent(victim, { FLOTILLA_FAULT_KILL_AFTER_STEP: point });
    // A step can also run while the agent starts (it finishes what it finds unfinished), so the
    // hook may kill it before it is up: then the kill came early, and it is started again plainly.
    const up = fleet.waitForHostsUp().then(() => 'up' as const, (err: unknown) => err);
    const first = await Promise.race([up, killed.exited.then(() => 'dead' as const)]);
    if (first === 'dead') {
      killedEarly = true;
      fleet.startAgent(victim);
      await fleet.waitForHostsUp();
    } else if (first !== 'up') throw first;
    await fleet.run(['deploy', `demo@${version}`, '--no-wait']);
    if (first === 'up') {
      const exit = await Promise.race([killed.exited, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
      if (exit?.signal !== 'SIGKILL') problems.push(`the agent was not killed after ${point} (${exit === null ? 'still running' : `exit ${JSON.stringify(exit)}`})`);
      if (exit === null) await killed.stop();
      fleet.startAgent(victim);
    }
    await fleet.waitForVersionEverywhere(version, 90_000).catch(() => undefined);
    await waitUntil('every host to hold its recorded assignment', async () => (await fleet.hosts()).every((h) => h.accepted_seq === h.assignment_seq), {
      timeoutMs: 30_000,
      intervalMs: 200,
    }).catch(() => undefined);
    for (const h of await fleet.hosts()) {
      if (h.accepted_seq !== h.assignment_seq) {
        lostAcks++;
        problems.push(`${h.host_id} accepted seq ${h.accepted_seq}, the controller recorded ${h.assignment_seq}`);
      }
    }
    for (let i = 0; i < fleet.agents.length; i++) {
      const a = fleet.agents[i]!;
      const answer = await fleet.answer(i);
      if (answer?.version !== version) {
        stranded++;
        problems.push(`${a.hostId} serves ${answer?.version ?? 'nothing'}, not demo@${version}`);
      }
      const pids = markedProcesses(a.dataDir);
      if (pids.length !== 1) {
        if (pids.length > 1) duplicates++;
        problems.push(`${a.hostId} runs ${pids.length} processes of demo (${pids.join(', ')})`);
      }
    }
  } catch (err) {
    problems.push(err instanceof Error ? (err.message.split('\n')[0] as string) : String(err));
  }
  return { point, version, problems, stranded, duplicates, lostAcks, killedEarly, ms: Date.now() - started };
}
