import { readFileSync, readdirSync } from 'node:fs';
import type { ProcessIdentity } from './types.js';

/**
 * Linux process facts from /proc. The agent targets Linux hosts; elsewhere these return null and
 * the supervisor refuses to adopt (it cannot tell its own process from a reused pid).
 */

export interface ProcStat {
  pid: number;
  /** R, S, D, Z (zombie), X (dead), ... */
  state: string;
  pgrp: number;
  /** Clock ticks since boot. */
  startTicks: string;
}

/** Parses /proc/<pid>/stat; null when the process does not exist (or /proc is missing). */
export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  return parseProcStat(text);
}

/** The command name sits in parentheses and may itself contain spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number.parseInt(text.slice(0, open).trim(), 10);
  // Fields after the name, numbered from field 3 (state) of proc(5).
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const state = rest[0];
  const pgrp = Number.parseInt(rest[2] ?? '', 10);
  const startTicks = rest[19];
  if (!Number.isInteger(pid) || state === undefined || !Number.isInteger(pgrp) || startTicks === undefined) return null;
  return { pid, state, pgrp, startTicks };
}

let bootIdCache: string | undefined;
function bootId(): string {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootIdCache = '';
    }
  }
  return bootIdCache;
}

/** Start ticks plus the boot id, so that a pid and tick count seen before a reboot never match. */
function startTimeOf(stat: ProcStat): string {
  const boot = bootId();
  return boot === '' ? stat.startTicks : `${stat.startTicks}@${boot}`;
}

const gone = (stat: ProcStat | null): boolean => stat === null || stat.state === 'Z' || stat.state === 'X';

/** The identity of a live process, or null when it is gone (a zombie counts as gone). */
export function identityOf(pid: number): ProcessIdentity | null {
  const stat = readProcStat(pid);
  if (gone(stat)) return null;
  return { pid, startTime: startTimeOf(stat as ProcStat) };
}

/** True while the very process `id` names is alive: same pid, same start, not a zombie. */
export function isSameProcessAlive(id: ProcessIdentity): boolean {
  if (!signalReaches(id.pid)) return false;
  const now = identityOf(id.pid);
  return now !== null && now.startTime === id.startTime;
}

/** Whether signal 0 reaches the pid (or, negative, the process group). */
function signalReaches(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True while any live (non-zombie) process remains in process group `pgid`. kill(-pgid, 0) alone
 * also answers yes for zombies nobody has reaped yet, which would make a stop wait for nothing.
 */
export function groupAlive(pgid: number): boolean {
  if (!signalReaches(-pgid)) return false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProcStat(Number(name));
    if (stat !== null && stat.pgrp === pgid && !gone(stat)) return true;
  }
  return false;
}

/** Sends `signal` to the whole process group; false when nothing was there to receive it. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ; 100 on every mainstream Linux build

/** When a process started (ms since epoch), from its start ticks and the boot time; null if unknown. */
export function startedAtMsOf(pid: number): number | null {
  const stat = readProcStat(pid);
  if (stat === null) return null;
  let bootSeconds: number | undefined;
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('btime '));
    bootSeconds = line === undefined ? undefined : Number(line.slice(6).trim());
  } catch {
    return null;
  }
  const ticks = Number(stat.startTicks);
  if (bootSeconds === undefined || !Number.isFinite(bootSeconds) || !Number.isFinite(ticks)) return null;
  return Math.round(bootSeconds * 1000 + (ticks * 1000) / CLOCK_TICKS_PER_SECOND);
}

/**
 * The variable that marks an app's main process as started by one agent for one app: its value
 * is that app's directory (`<dataDir>/apps/<app>`), unique per agent and app on a machine. Only
 * the supervised process carries it (not hooks, not health checks).
 */
export const PROCESS_MARK_VAR = 'FLOTILLA_AGENT_MARK';

/** A live process found by its mark. */
export interface MarkedProcess {
  readonly identity: ProcessIdentity;
  readonly mark: string;
  /** Its FLOTILLA_VERSION, or null when it has none. */
  readonly version: string | null;
}

/** The variables of a process's initial environment, or null when it cannot be read. */
function environOf(pid: number): Map<string, string> | null {
  let raw: Buffer;
  try {
    raw = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return null; // gone, or another user's
  }
  const vars = new Map<string, string>();
  for (const entry of raw.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) vars.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return vars;
}

/**
 * Every live process-group leader whose environment carries one of `marks`. Every app process
 * is started as the leader of its own group, and the processes it forks are not leaders, so
 * this finds the app process and not its workers. A reused pid cannot match: its environment is
 * another program's. Linux only (an empty list elsewhere).
 */
export function findMarkedProcesses(marks: ReadonlySet<string>): MarkedProcess[] {
  if (marks.size === 0) return [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: MarkedProcess[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const stat = readProcStat(pid);
    if (stat === null || gone(stat) || stat.pgrp !== pid) continue;
    const env = environOf(pid);
    const mark = env?.get(PROCESS_MARK_VAR);
    if (mark === undefined || !marks.has(mark)) continue;
    // The identity is read after the environment: had the pid been reused in between, the start
    // time would not match the one this process had, and adoption would check it again anyway.
    const identity = identityOf(pid);
    if (identity !== null) found.push({ identity, mark, version: env?.get('FLOTILLA_VERSION') ?? null });
  }
  return found;
}
