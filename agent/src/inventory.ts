import si from 'systeminformation';
import { FLOTILLA_VERSION, type Inventory, type Logger } from '@flotilla/shared';
import { basicInventory } from './host.js';

/**
 * What the host is, asked of systeminformation once at start (it shells out and reads many
 * files, which is fine once and too much per heartbeat). Falls back to `os` for anything it
 * cannot tell. The agent runs this in its work thread, so that the library's code does not stay
 * resident in the agent for the rest of its life.
 */
export async function collectInventory(logger: Logger): Promise<Inventory> {
  const fallback = basicInventory();
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
    logger.child({ component: 'inventory' }).warn({ err }, 'systeminformation failed; inventory from os module');
    return fallback;
  }
}
