import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { connect } from 'node:net';
import { deadlineMs, delay } from './deadline.js';

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Names the process in errors ("nats-server", "flotilla-controller"). */
  what: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** How much of its output to keep for failure messages. @default 64 KiB */
  keepBytes?: number;
}

/** A child process with its output kept, its exit awaited once, and a stop that always ends it. */
export interface Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  readonly pid: number;
  /** Everything kept of its stdout and stderr, interleaved. */
  output(): string;
  /** Its last `lines` lines of output. */
  tail(lines?: number): string;
  running(): boolean;
  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs` (scaled). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>;
}

/** Spawns a process and keeps its output; it may not be ready for anything yet. */
export function spawnChild(opts: SpawnOptions): Spawned {
  const child = spawn(opts.command, opts.args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env, cwd: opts.cwd });
  const keepBytes = opts.keepBytes ?? 64 * 1024;
  let text = '';
  const keep = (b: Buffer) => {
    text = (text + b.toString()).slice(-keepBytes);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // 'error' without an exit (ENOENT) still settles `exited`, so nothing waits forever on it.
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => {
      text += `\ncannot start ${opts.command}: ${err.message}`;
      resolve({ code: null, signal: null });
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  const tail = (lines = 40) => text.split('\n').slice(-lines).join('\n');
  return {
    child,
    exited,
    get pid() {
      return child.pid as number;
    },
    output: () => text,
    tail,
    running,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000) {
      if (!running()) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs(graceMs));
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

export interface ReadyOptions<T> extends SpawnOptions {
  /** Resolves with what the process published once it is ready (ports), or undefined before. */
  ready: (proc: Spawned) => Promise<T | undefined>;
  /** Before scaling. @default 15_000 */
  readyTimeoutMs?: number;
}

/**
 * Spawns a process and polls `ready` until it answers, racing the process's exit: one that dies
 * during start fails at once with the tail of its output, one that hangs fails at the deadline.
 * Either way the process is killed before the error is thrown.
 */
export async function spawnReady<T>(opts: ReadyOptions<T>): Promise<{ proc: Spawned; ready: T }> {
  const proc = spawnChild(opts);
  const limitMs = deadlineMs(opts.readyTimeoutMs ?? 15_000);
  const deadline = Date.now() + limitMs;
  let gone: Exit | undefined;
  void proc.exited.then((e) => (gone = e));
  while (gone === undefined && Date.now() < deadline) {
    const ready = await opts.ready(proc).catch(() => undefined);
    if (ready !== undefined) return { proc, ready };
    await Promise.race([delay(25), proc.exited]);
  }
  proc.child.kill('SIGKILL');
  const how = gone ? `exited during start (${gone.signal ?? gone.code})` : `was not ready within ${limitMs} ms`;
  throw new Error(`${opts.what} ${how}:\n${proc.tail(15)}`);
}

/** What a process printed and how it ended, for programs run to their end (the CLI). */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its exit; SIGKILL after `timeoutMs` (scaled). `inherit` shows its output instead of keeping it. */
export function runToExit(
  command: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; stdio?: 'pipe' | 'inherit' } = {},
): Promise<RunResult> {
  const stdio: StdioOptions = opts.stdio === 'inherit' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'];
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs(opts.timeoutMs ?? 120_000));
  return new Promise((resolve) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}cannot start ${command}: ${err.message}\n` });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** This process's environment without its FLOTILLA_* variables, which would change the programs' configuration. */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FLOTILLA_')) env[k] = v;
  return env;
}

/** True when something accepts a TCP connection on 127.0.0.1:`port`: a readiness probe for servers. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
