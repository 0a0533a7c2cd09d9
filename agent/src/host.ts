import { statfs } from 'node:fs/promises';
import { arch, availableParallelism, cpus, freemem, hostname, loadavg, release, totalmem, type CpuInfo } from 'node:os';
import { FLOTILLA_VERSION, type Inventory, type LoadFigures } from '@flotilla/shared';

/**
 * What the host is, from the `os` module alone: what the agent announces when the fuller
 * inventory (inventory.ts, collected in the work thread) cannot be had.
 */
export function basicInventory(): Inventory {
  return {
    hostname: hostname(),
    os: process.platform,
    arch: arch(),
    kernel: release(),
    cpus: availableParallelism(),
    memTotalBytes: totalmem(),
    agentVersion: FLOTILLA_VERSION,
  };
}

function cpuTimes(list: readonly CpuInfo[]): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of list) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

/**
 * Live figures for each heartbeat, from the cheapest sources there are: CPU use from the
 * kernel's counters between two heartbeats (one read of /proc/stat), memory from `os`, free disk
 * from one statfs call. Nothing here spawns a process or loads a library.
 */
export class LoadSampler {
  private last: { busy: number; total: number } | null = null;

  constructor(private readonly dataDir: string) {}

  async sample(): Promise<LoadFigures> {
    const now = cpuTimes(cpus());
    let cpuPercent: number;
    if (this.last && now.total > this.last.total) {
      cpuPercent = ((now.busy - this.last.busy) / (now.total - this.last.total)) * 100;
    } else {
      // No earlier reading yet: the 1-minute load average per CPU is the best cheap estimate.
      cpuPercent = ((loadavg()[0] ?? 0) / Math.max(1, availableParallelism())) * 100;
    }
    this.last = now;
    const memTotalBytes = totalmem();
    return {
      cpuPercent: Math.round(Math.min(100, Math.max(0, cpuPercent)) * 10) / 10,
      memUsedBytes: Math.max(0, memTotalBytes - freemem()),
      memTotalBytes,
      diskFreeBytes: await this.diskFree(),
    };
  }

  private async diskFree(): Promise<number> {
    try {
      const s = await statfs(this.dataDir);
      return s.bavail * s.bsize;
    } catch {
      return 0; // the data dir vanished or is unreadable: report nothing rather than fail the heartbeat
    }
  }
}
