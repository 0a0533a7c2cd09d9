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
