import { statfs } from 'node:fs/promises';
import { arch, availableParallelism, cpus, freemem, hostname, loadavg, release, totalmem, type CpuInfo } from 'node:os';
import si from 'systeminformation';
import { FLOTILLA_VERSION, errorMessage, type Inventory, type LoadFigures, type Logger } from '@flotilla/shared';

/**
 * What the host is, asked of systeminformation once at start (it shells out and reads many
 * files, which is fine once and too much per heartbeat). Falls back to `os` for anything it
 * cannot tell.
 */
export async function collectInventory(logger: Logger): Promise<Inventory> {
  const log = logger.child({ component: 'inventory' });
  const fallback: Inventory = {
    hostname: hostname(),
    os: process.platform,
    arch: arch(),
    kernel: release(),
    cpus: availableParallelism(),
    memTotalBytes: totalmem(),
    agentVersion: FLOTILLA_VERSION,
  };
  try {
    const [osInfo, cpu, mem] = await Promise.all([si.osInfo(), si.cpu(), si.mem()]);
    return {
      hostname: osInfo.hostname || fallback.hostname,
      os: [osInfo.distro, osInfo.release].filter((s) => s).join(' ') || osInfo.platform || fallback.os,
      arch: osInfo.arch || fallback.arch,
      kernel: osInfo.kernel || fallback.kernel,
      cpus: cpu.cores > 0 ? cpu.cores : fallback.cpus,
      memTotalBytes: mem.total > 0 ? mem.total : fallback.memTotalBytes,
      agentVersion: FLOTILLA_VERSION,
    };
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'systeminformation failed; inventory from os module');
    return fallback;
  }
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
 * from one statfs call. Nothing here spawns a process.
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
