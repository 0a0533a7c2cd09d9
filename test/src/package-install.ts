import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// Helpers for the package tests: build the .deb files, read what a unit would run, and run it
// that way (same user when root, same command line, same environment).

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PACKAGE_SCRIPT = join(REPO_ROOT, 'scripts', 'package.mjs');

const run = promisify(execFile);

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; a non-zero exit is a result, not a throw. */
export async function command(file: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  try {
    const r = await run(file, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024, env: opts.env ?? process.env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** Builds both packages into `outDir` (the TypeScript build is the test run's own), at `version` if given, and returns their paths. */
export async function buildPackages(outDir: string, version?: string): Promise<{ agent: string; controller: string }> {
  const r = await command(process.execPath, [PACKAGE_SCRIPT, '--skip-build', '--out', outDir, ...(version ? ['--version', version] : [])], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`npm run package failed:\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  const agent = lines.find((l) => l.includes('flotilla-agent_'));
  const controller = lines.find((l) => l.includes('flotilla-controller_'));
  if (!agent || !controller) throw new Error(`npm run package named no packages:\n${r.stdout}`);
  return { agent, controller };
}

/** What systemd would run for a unit: the [Service] keys the tests reproduce. */
export interface UnitExec {
  /** ExecStart= split into words (the units quote nothing); empty for a drop-in without one. */
  readonly argv: readonly string[];
  readonly user: string | undefined;
  readonly environment: Readonly<Record<string, string>>;
  readonly killMode: string | undefined;
  readonly stateDirectory: string | undefined;
}

/** Reads the keys of a unit file's [Service] section that decide how its program runs. */
export async function readUnit(path: string): Promise<UnitExec> {
  const text = await readFile(path, 'utf8');
  let section = '';
  const values = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    values.set(key, [...(values.get(key) ?? []), line.slice(eq + 1)]);
  }
  const environment: Record<string, string> = {};
  for (const entry of (values.get('Environment') ?? []).flatMap((v) => v.split(/\s+/))) {
    const eq = entry.indexOf('=');
    if (eq > 0) environment[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  // A drop-in may have no ExecStart= of its own.
  const exec = values.get('ExecStart')?.at(-1);
  return {
    argv: exec ? exec.split(/\s+/) : [],
    user: values.get('User')?.at(-1),
    environment,
    killMode: values.get('KillMode')?.at(-1),
    stateDirectory: values.get('StateDirectory')?.at(-1),
  };
}

export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** The passwd entry of `name`, or undefined when there is none. */
export async function account(name: string): Promise<Account | undefined> {
  const r = await command('getent', ['passwd', name]);
  if (r.code !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
}

/**
 * Starts a unit's program as systemd would: its ExecStart= words (with `rewrite` applied to each,
 * to point at an unpacked tree when not installed), as its User= when `as` is given, with
 * systemd's base environment plus Environment=.
 */
export function startAsUnit(unit: UnitExec, opts: { as?: Account; rewrite?: (word: string) => string }): ChildProcess & { output: () => string } {
  const argv = unit.argv.map((w) => opts.rewrite?.(w) ?? w);
  if (argv.length === 0) throw new Error('the unit has no ExecStart=');
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    ...(opts.as ? { USER: opts.as.name, LOGNAME: opts.as.name, HOME: opts.as.home, SHELL: '/usr/sbin/nologin' } : { HOME: process.env.HOME ?? '/tmp' }),
    ...unit.environment,
  };
  const child = spawn(argv[0] as string, argv.slice(1), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.as ? { uid: opts.as.uid, gid: opts.as.gid } : {}),
  });
  let text = '';
  const keep = (b: Buffer) => {
    text = (text + b.toString()).slice(-256 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return Object.assign(child, { output: () => text.split('\n').slice(-40).join('\n') });
}

/** Stops a child with SIGTERM and waits for it (SIGKILL after 10 s, for a hung one). */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The uid a process runs as, from /proc (undefined once it is gone). */
export async function processUid(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^Uid:\s+(\d+)/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const SYSTEM_LOCK = '/run/lock/flotilla-package-test.lock';

/**
 * Holds the machine-wide lock of the tests that install Flotilla's packages onto this machine
 * (the package test and the Ansible test), so that one never purges what the other installed.
 * A lock left by a process that is gone is taken over. Returns the release function.
 */
export async function lockSystemInstall(timeoutMs = 300_000): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await mkdir(SYSTEM_LOCK);
      await writeFile(join(SYSTEM_LOCK, 'pid'), String(process.pid));
      return () => rm(SYSTEM_LOCK, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await readFile(join(SYSTEM_LOCK, 'pid'), 'utf8').catch(() => '0'));
      let alive = holder > 0;
      try {
        if (alive) process.kill(holder, 0);
      } catch {
        alive = false;
      }
      // No pid yet may be a holder between its mkdir and its write: only a dead one is taken over.
      if (holder > 0 && !alive) await rm(SYSTEM_LOCK, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`${SYSTEM_LOCK} was held for ${timeoutMs} ms`);
}

/** True when a `flotilla` user or any Flotilla package is on this machine. */
export function flotillaOnSystem(): boolean {
  try {
    execFileSync('getent', ['passwd', 'flotilla'], { stdio: 'ignore' });
    return true;
  } catch {
    // no flotilla user: fall through to the package database
  }
  for (const p of ['flotilla-agent', 'flotilla-controller']) {
    try {
      const s = execFileSync('dpkg-query', ['-W', '-f=${db:Status-Status}', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      if (s.trim() !== '' && s.trim() !== 'not-installed') return true;
    } catch {
      // unknown to dpkg
    }
  }
  return false;
}
