import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The app processes (group leaders) an agent marked for `app`, found the way a user would: in /proc. */
export function markedProcesses(dataDir: string, app = 'demo'): number[] {
  const mark = `FLOTILLA_AGENT_MARK=${join(dataDir, 'apps', app)}`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || fields[2] !== name) continue;
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(mark)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
