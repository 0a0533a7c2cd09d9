import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { PROCESS_MARK_VAR, findMarkedProcesses, identityOf } from './proc.js';

const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function sleeper(env: Record<string, string>, detached: boolean): ChildProcess {
  const child = spawn('sleep', ['30'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, detached, stdio: 'ignore' });
  children.push(child);
  return child;
}

async function spawned(child: ChildProcess): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return child.pid as number;
}

describe('findMarkedProcesses', () => {
  it('finds the group leader carrying a mark, with its version and identity, and nothing else', async () => {
    const mark = `/data/${randomUUID()}/apps/web`;
    const leader = await spawned(sleeper({ [PROCESS_MARK_VAR]: mark, FLOTILLA_VERSION: '1.2.3' }, true));
    // Same mark but not a group leader (like a worker the app forked): not the app process.
    await spawned(sleeper({ [PROCESS_MARK_VAR]: mark }, false));
    // Another agent's app on the same machine.
    await spawned(sleeper({ [PROCESS_MARK_VAR]: `/other/${randomUUID()}/apps/web` }, true));
    const found = findMarkedProcesses(new Set([mark]));
    expect(found).toEqual([{ identity: identityOf(leader), mark, version: '1.2.3' }]);
  });

  it('finds nothing for no marks', () => {
    expect(findMarkedProcesses(new Set())).toEqual([]);
  });
});
