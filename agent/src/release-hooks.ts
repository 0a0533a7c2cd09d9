import { join } from 'node:path';
import { formatDuration, type HookSpec, type Logger } from '@flotilla/shared';
import { abortError, type InstallDeps, type ReleaseInfo } from './install-context.js';
import { releaseEnv, runCommand } from './process/index.js';
import { appEnvironment } from './processes.js';
import { HookFailedError } from './retry.js';

/** The last non-empty line of a command's output, trimmed for a status report. */
function lastLine(text: string): string {
  const line = text.trim().split('\n').pop()?.trim() ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** Runs one of the release's hooks in its release directory; throws HookFailedError when it fails. */
export async function runHook(
  deps: Pick<InstallDeps, 'appOverrides' | 'userOf'>,
  name: 'preActivate' | 'postStart',
  hook: HookSpec | undefined,
  release: ReleaseInfo,
  signal: AbortSignal | undefined,
  log: Logger,
): Promise<void> {
  if (hook === undefined) return;
  const user = deps.userOf?.(release.app);
  const env = releaseEnv({ ...release, env: appEnvironment(release.manifest, deps.appOverrides[release.app]?.env), ...(user ? { user } : {}) });
  log.info({ hook: name }, 'running hook');
  const r = await runCommand(hook.command, {
    cwd: release.releaseDir,
    env,
    timeoutMs: hook.timeout,
    logFile: join(release.logDir, `${release.app}.log`),
    ...(signal ? { signal } : {}),
    ...(user ? { user } : {}),
  });
  if (r.ok) return;
  if (signal?.aborted) throw abortError();
  const how = r.timedOut
    ? `timed out after ${formatDuration(hook.timeout)}`
    : r.code !== null
      ? `exited with code ${r.code}`
      : r.signal !== null
        ? `was killed by ${r.signal}`
        : 'could not run';
  const tail = lastLine(r.outputTail);
  throw new HookFailedError(`${name} hook of ${release.app}@${release.version} ${how}${tail ? `: ${tail}` : ''}`, {
    details: { hook: name, code: r.code, signal: r.signal, timedOut: r.timedOut },
  });
}
