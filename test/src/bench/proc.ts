import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** Kernel clock ticks a second (the unit of utime/stime in /proc/<pid>/stat). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time the process has used so far (user + system), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces; count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS;
}

function statusField(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]) * 1024;
}

/** Resident set size now, in bytes. */
export function rssBytes(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/** The highest resident set size since the process started or since resetPeakRss(), in bytes. */
export function peakRssBytes(pid: number): number {
  return statusField(pid, 'VmHWM');
}

/** Starts a new peak RSS measurement (Linux: writing 5 to clear_refs resets VmHWM). */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A process's CPU use over a window, as a share of one core (1.0 = one core busy throughout). */
export class CpuWindow {
  private readonly startCpu: number;
  private readonly startMs: number;

  constructor(private readonly pid: number) {
    this.startCpu = cpuSeconds(pid);
    this.startMs = performance.now();
  }

  /** Share of one core since the window opened, and the window's length. */
  read(): { share: number; seconds: number; cpuSeconds: number } {
    const seconds = (performance.now() - this.startMs) / 1000;
    const used = cpuSeconds(this.pid) - this.startCpu;
    return { share: seconds > 0 ? used / seconds : 0, seconds, cpuSeconds: used };
  }
}

/** Samples RSS every `intervalMs` until stopped; keeps the highest and the last. */
export class RssSampler {
  private max = 0;
  private last = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 250,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    try {
      this.last = rssBytes(this.pid);
      this.max = Math.max(this.max, this.last);
    } catch {
      // the process is gone; keep what was seen
    }
  }

  stop(): { max: number; last: number } {
    clearInterval(this.timer);
    this.sample();
    return { max: this.max, last: this.last };
  }
}

/** The `p`th percentile (0..100) of `values`, nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}
