import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LogFollower } from './logs.js';

/** The agent as a service manager starts it (deploy/systemd/flotilla-agent.service): its bin script. */
export const AGENT_BIN = fileURLToPath(new URL('../../../agent/bin/flotilla-agent.js', import.meta.url));

export interface BenchAgentOptions {
  hostId: string;
  natsUrl: string;
  controller: string;
  dataDir: string;
  trustedKey: string;
  controllerPublicKey: string;
  appEnv?: string[];
  labels?: string[];
  /** Omitted: the agent's default. */
  heartbeatInterval?: string;
  /** @default 'info', the agent's default */
  logLevel?: string;
  /** Node flags (--cpu-prof...), before the bin script. */
  nodeArgs?: string[];
}

/** A real flotilla-agent process with its JSON log followed. */
export class BenchAgent {
  readonly logs: LogFollower;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    this.logs = new LogFollower(`agent ${child.pid}`, child.stdout, child.stderr);
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static spawn(opts: BenchAgentOptions): BenchAgent {
    const args = [
      ...(opts.nodeArgs ?? []),
      AGENT_BIN,
      '--host-id', opts.hostId,
      '--nats', opts.natsUrl,
      '--controller', opts.controller,
      '--data-dir', opts.dataDir,
      '--trusted-key', opts.trustedKey,
      '--controller-public-key', opts.controllerPublicKey,
      '--log-level', opts.logLevel ?? 'info',
      '--no-log-pretty',
      ...(opts.heartbeatInterval ? ['--heartbeat-interval', opts.heartbeatInterval] : []),
      ...(opts.appEnv ?? []).flatMap((e) => ['--app-env', e]),
      ...(opts.labels ?? []).flatMap((l) => ['--label', l]),
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
    });
    return new BenchAgent(child);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** SIGTERM and wait (SIGKILL after 15 s). The agent leaves its apps running: kill them with killAppsOf. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}
