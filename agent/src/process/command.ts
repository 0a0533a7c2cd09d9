import { spawn } from 'node:child_process';
import { constants as fsConstants, createWriteStream, type WriteStream } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ManifestError, expandEnv, type CommandSpec } from '@flotilla/shared';
import { signalGroup } from './proc.js';
import type { AppUser } from './app-user.js';
import type { SupervisedRelease } from './types.js';

/** The only variables an app inherits from the agent; everything else comes from its release. */
const INHERITED = ['PATH', 'HOME', 'LANG'] as const;

export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Who the process is, for programs that look: the app user's, not the agent's, HOME. */
export function userEnv(user: AppUser): Record<string, string> {
  return { HOME: user.home, USER: user.name, LOGNAME: user.name };
}

/**
 * Spawn options that make the process the app user. libuv drops the agent's supplementary groups
 * when it sets uid and gid, and the kernel clears a root agent's capabilities on the switch.
 */
export function userSpawnOptions(user: AppUser | undefined): { uid?: number; gid?: number } {
  return user === undefined ? {} : { uid: user.uid, gid: user.gid };
}

/**
 * The environment an app's processes (the app, its hooks, its command health check) run with:
 * the agent's PATH, HOME and LANG, then the release's env, then the FLOTILLA_* facts.
 */
export function releaseEnv(release: SupervisedRelease): Record<string, string> {
  return {
    ...baseEnv(),
    ...(release.user ? userEnv(release.user) : {}),
    ...release.env,
    FLOTILLA_APP: release.app,
    FLOTILLA_VERSION: release.version,
    FLOTILLA_RELEASE_DIR: release.releaseDir,
  };
}

/**
 * What to exec. A string goes to /bin/sh -c (the shell expands `$VAR` itself); an argv array runs
 * directly, with `${VAR}` in its elements expanded from `env` because no shell will do it, so a
 * per-host port override reaches `["node", "server.js", "--port", "${PORT}"]` too.
 */
export function commandArgv(cmd: CommandSpec, env: Readonly<Record<string, string>>): { file: string; args: string[] } {
  if (typeof cmd === 'string') return { file: '/bin/sh', args: ['-c', cmd] };
  const [file, ...args] = cmd.map((part) => expandEnv(part, env));
  return { file: file as string, args };
}

/** A short description of a command for logs and errors. */
export function describeCommand(cmd: CommandSpec): string {
  const text = typeof cmd === 'string' ? cmd : cmd.join(' ');
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** Words for a failed spawn; ENOENT and EACCES are the ones an operator can fix in the release. */
export function spawnErrorMessage(err: NodeJS.ErrnoException, cmd: CommandSpec, role = 'command'): string {
  const what = describeCommand(cmd);
  switch (err.code) {
    case 'ENOENT':
      return `${role} not found: ${what}`;
    case 'EACCES':
      return `${role} is not executable: ${what}`;
    case 'EPERM':
      return `cannot run ${role} ${what} as the app's user: the agent lacks CAP_SETUID/CAP_SETGID (see docs/agent.md)`;
    default:
      return `could not run ${role} ${what}: ${err.message}`;
  }
}

/** Null when `dir` is a directory, else why not (spawn would blame the program instead). */
export async function missingDirectory(dir: string): Promise<string | null> {
  try {
    const s = await stat(dir);
    return s.isDirectory() ? null : `working directory is not a directory: ${dir}`;
  } catch {
    return `working directory does not exist: ${dir}`;
  }
}

export interface RunCommandOptions {
  /** Working directory (absolute). */
  cwd: string;
  /** Added over the agent's PATH, HOME and LANG. */
  env: Record<string, string>;
  /** The whole process group is killed after this long. */
  timeoutMs: number;
  /** When given, the command's output is appended there as well. */
  logFile?: string;
  /** Aborting kills the command's process group. */
  signal?: AbortSignal;
  /** Runs the command as this user. @default the agent's own */
  user?: AppUser;
}

export interface RunCommandResult {
  /** Exited with code 0 in time. */
  ok: boolean;
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The last few KiB of stdout and stderr together (or why it could not start). */
  outputTail: string;
}

const TAIL_BYTES = 4096;
/** How long to let the pipes drain after the command exited; a background child may hold them open. */
const DRAIN_MS = 200;

/**
 * Runs a hook or a command health check to completion. It gets its own process group, so a
 * timeout or an abort kills everything it started, not just the shell. Never throws for the
 * command's own failures (missing program, non-zero exit, timeout): `ok` says how it went.
 */
export async function runCommand(cmd: CommandSpec, opts: RunCommandOptions): Promise<RunCommandResult> {
  const env = { ...baseEnv(), ...opts.env };
  const { file, args } = commandArgv(cmd, env);
  const badCwd = await missingDirectory(opts.cwd);
  if (badCwd !== null) return { ok: false, code: null, signal: null, timedOut: false, outputTail: badCwd };
  let log: WriteStream | undefined;
  if (opts.logFile !== undefined) {
    await mkdir(dirname(opts.logFile), { recursive: true });
    log = createWriteStream(opts.logFile, { flags: 'a' });
    log.on('error', () => undefined); // a full disk must not fail the hook itself
  }
  try {
    return await runToEnd(file, args, cmd, env, opts, log);
  } finally {
    if (log !== undefined) await new Promise<void>((resolve) => log.end(resolve));
  }
}

function runToEnd(
  file: string,
  args: string[],
  cmd: CommandSpec,
  env: Record<string, string>,
  opts: RunCommandOptions,
  log: WriteStream | undefined,
): Promise<RunCommandResult> {
  return new Promise((resolve) => {
    let tail = Buffer.alloc(0);
    const keep = (chunk: Buffer): void => {
      log?.write(chunk);
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
    };
    if (opts.signal?.aborted) {
      resolve({ ok: false, code: null, signal: null, timedOut: false, outputTail: 'aborted before it started' });
      return;
    }
    const child = spawn(file, args, { cwd: opts.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...userSpawnOptions(opts.user) });
    let timedOut = false;
    let settled = false;
    const kill = (): void => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, Math.max(1, opts.timeoutMs));
    const onAbort = (): void => kill();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (result: Omit<RunCommandResult, 'outputTail'>, extra = ''): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ ...result, outputTail: (tail.toString('utf8') + extra).slice(-TAIL_BYTES) });
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err: NodeJS.ErrnoException) => {
      finish({ ok: false, code: null, signal: null, timedOut: false }, spawnErrorMessage(err, cmd));
    });
    child.on('exit', (code, signal) => {
      const result = { ok: code === 0 && !timedOut, code, signal, timedOut };
      // 'close' waits for the pipes; give them a moment, but a background child may never let go.
      const drained = setTimeout(() => finish(result), DRAIN_MS);
      child.once('close', () => {
        clearTimeout(drained);
        finish(result);
      });
    });
  });
}

/**
 * Checks, before the old process is stopped, that a release's start command can be executed at
 * all: its working directory exists and the program (an argv array's first element) is an
 * executable file, either by path relative to the working directory or on PATH. A string command
 * runs through /bin/sh, whose own errors show only when it runs. Throws ManifestError naming the
 * problem, so a release that cannot start never replaces one that runs.
 */
export async function checkStartable(release: SupervisedRelease): Promise<void> {
  const cwd = resolve(release.releaseDir, release.manifest.start.cwd);
  const cwdStat = await stat(cwd).catch(() => null);
  if (!cwdStat?.isDirectory()) {
    throw new ManifestError(`start.cwd "${release.manifest.start.cwd}" is not a directory in the release`);
  }
  const env = releaseEnv(release);
  const { file } = commandArgv(release.manifest.start.command, env);
  const candidates = file.includes('/')
    ? [resolve(cwd, file)]
    : (env.PATH ?? '').split(':').filter((dir) => dir !== '').map((dir) => resolve(cwd, dir, file));
  for (const candidate of candidates) {
    try {
      await access(candidate, fsConstants.X_OK);
      if ((await stat(candidate)).isFile()) return;
    } catch {
      // not here; try the next place
    }
  }
  throw new ManifestError(
    file.includes('/')
      ? `start.command: "${file}" is not an executable file in the release`
      : `start.command: "${file}" is not an executable on PATH (${env.PATH ?? 'unset'})`,
  );
}
