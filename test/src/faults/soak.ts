import { rssBytes } from '../bench/proc.js';
import { waitUntil } from '../controller-process.js';
import { Fleet } from '../fleet.js';
import { judgeRss, type RssSample, type RssVerdict } from './rss-series.js';

export interface SoakOptions {
  minutes: number;
  agents: number;
  /** Agents' heartbeat interval, as the agent takes it ("250ms"). */
  heartbeat: string;
  sampleEveryMs: number;
  /** A deploy (alternating two versions) this often, so rollouts and events are part of the load; 0 for none. */
  deployEveryMs: number;
  /** More environment for the controller (NODE_OPTIONS for --heapsnapshot-signal, say). */
  controllerEnv?: Record<string, string>;
  log: (message: string) => void;
}

export interface SoakResult {
  readonly samples: RssSample[];
  readonly deploys: number;
  readonly verdict: RssVerdict | undefined;
  readonly controllerPid: number;
}

/**
 * Runs a small real fleet (nats-server, the controller, agents with the demo app) for a while
 * and samples the controller's RSS, to see whether it levels off.
 */
export async function soak(opts: SoakOptions): Promise<SoakResult> {
  const fleet = await Fleet.start({
    agents: opts.agents,
    heartbeatInterval: opts.heartbeat,
    logLevel: 'warn',
    ...(opts.controllerEnv ? { controllerEnv: opts.controllerEnv } : {}),
  });
  try {
    await waitUntil('every host up', async () => (await fleet.hosts()).filter((h) => h.state === 'up').length === opts.agents, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    for (const v of ['1.0.0', '2.0.0']) await fleet.push(v);
    const pid = fleet.controller.child.pid as number;
    const samples: RssSample[] = [];
    const started = Date.now();
    const endAt = started + opts.minutes * 60_000;
    let nextSample = started;
    let nextDeploy = started;
    let deploys = 0;
    // Bounded by the clock: one pass per sample or deploy until the soak's end.
    while (Date.now() < endAt) {
      const now = Date.now();
      if (opts.deployEveryMs > 0 && now >= nextDeploy) {
        const version = deploys % 2 === 0 ? '1.0.0' : '2.0.0';
        const r = await fleet.cli(['deploy', `demo@${version}`, '--wait-timeout', '120s']);
        if (r.code !== 0) throw new Error(`deploy of demo@${version} failed:\n${r.stdout}${r.stderr}\n${fleet.diagnostics()}`);
        deploys++;
        nextDeploy = now + opts.deployEveryMs;
      }
      if (Date.now() >= nextSample) {
        const sample = { atMs: Date.now() - started, rssBytes: rssBytes(pid) };
        samples.push(sample);
        opts.log(`t=${(sample.atMs / 1000).toFixed(0)}s controller RSS ${(sample.rssBytes / 1024 ** 2).toFixed(1)} MB (deploys ${deploys})`);
        nextSample += opts.sampleEveryMs;
      }
      const wakeAt = Math.min(nextSample, opts.deployEveryMs > 0 ? nextDeploy : endAt, endAt);
      await new Promise((r) => setTimeout(r, Math.max(10, wakeAt - Date.now())));
    }
    samples.push({ atMs: Date.now() - started, rssBytes: rssBytes(pid) });
    return { samples, deploys, verdict: judgeRss(samples), controllerPid: pid };
  } finally {
    await fleet.stop();
  }
}

/** The series and the verdict as plain text. */
export function formatSoak(result: SoakResult, opts: Pick<SoakOptions, 'minutes' | 'agents' | 'heartbeat'>): string {
  const lines = [
    `soak: ${opts.minutes} min, ${opts.agents} agents, heartbeat ${opts.heartbeat}, ${result.deploys} deploys`,
    `controller RSS (MB) by minute: ${result.samples.map((s) => `${(s.atMs / 60_000).toFixed(1)}:${(s.rssBytes / 1024 ** 2).toFixed(1)}`).join(' ')}`,
  ];
  const v = result.verdict;
  if (!v) {
    lines.push('too few samples to judge (run longer)');
  } else {
    lines.push(
      `mean by third: ${v.firstThirdMb.toFixed(1)} -> ${v.middleThirdMb.toFixed(1)} -> ${v.lastThirdMb.toFixed(1)} MB; ` +
        `late growth ${v.lateGrowthMbPer10Min.toFixed(2)} MB/10 min: ${v.levelsOff ? 'levels off' : 'still growing'}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
