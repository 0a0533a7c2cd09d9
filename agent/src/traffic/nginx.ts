import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BalancerError, type Logger } from '@flotilla/shared';
import type { AgentCommand, AppHostSettings, TrafficSettings } from '../config.js';
import { runCommand, type RunCommandOptions, type RunCommandResult } from '../process/index.js';
import type { SlotWeight } from './slots.js';
import { UPSTREAM_MARKER, renderUpstream } from './upstream.js';

/** Runs a command to its end (runCommand; a fake in unit tests). */
export type CommandRunner = (cmd: string | string[], opts: RunCommandOptions) => Promise<RunCommandResult>;

export type NginxSettings = Pick<TrafficSettings, 'nginx' | 'stickiness' | 'keepalive'> & {
  /** Per-app places on this host: the upstream file, its name and the commands (`apps.<app>.traffic.nginx`). @default none */
  readonly apps?: Readonly<Record<string, Pick<AppHostSettings, 'traffic'>>>;
};

/** The words nginx said, trimmed for a status line. */
function said(r: RunCommandResult): string {
  const text = r.outputTail.trim().split('\n').slice(-4).join(' / ');
  if (r.timedOut) return `timed out${text ? `: ${text}` : ''}`;
  return text || (r.code !== null ? `exited with code ${r.code}` : `killed by ${r.signal ?? 'a signal'}`);
}

/**
 * nginx driven through one include file per app. Every change is write, `nginx -t`, reload; when
 * nginx refuses either, the file is put back as it was, so the config on disk is always one nginx
 * accepted and the running nginx keeps serving the last good one.
 */
export class NginxUpstreams {
  /** nginx -t and reload look at the whole config: one change at a time across all apps. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly settings: NginxSettings,
    private readonly log: Logger,
    private readonly run: CommandRunner = (cmd, opts) => runCommand(cmd, opts),
  ) {}

  path(app: string): string {
    return this.settings.apps?.[app]?.traffic?.nginx?.includeFile ?? join(this.settings.nginx.includeDir, `flotilla-${app}.conf`);
  }

  /** The test and reload commands for `app`: its own where the host's config names them. */
  private commands(app: string): ReadonlyArray<readonly ['test' | 'reload', AgentCommand]> {
    const own = this.settings.apps?.[app]?.traffic?.nginx;
    return [
      ['test', own?.testCommand ?? this.settings.nginx.testCommand],
      ['reload', own?.reloadCommand ?? this.settings.nginx.reloadCommand],
    ];
  }

  /** Puts `slots` in place for `app`; throws BalancerError with nginx's message when it refuses. */
  apply(app: string, slots: readonly SlotWeight[]): Promise<void> {
    const next = this.#queue.then(() => this.applyNow(app, slots));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  private async applyNow(app: string, slots: readonly SlotWeight[]): Promise<void> {
    const path = this.path(app);
    const previous = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw new BalancerError(`cannot read ${path}: ${err.message}`, { cause: err });
    });
    if (previous !== null && !previous.startsWith(UPSTREAM_MARKER)) {
      throw new BalancerError(`${path} was not written by flotilla-agent; it is left alone and traffic for ${app} is not moved`);
    }
    await mkdir(dirname(path), { recursive: true });
    const upstream = this.settings.apps?.[app]?.traffic?.nginx?.upstream;
    await writeAtomic(path, renderUpstream(app, slots, { ...this.settings, ...(upstream !== undefined ? { upstream } : {}) }));
    // Even an unchanged file is tested and reloaded: an agent that died between the write and the
    // reload left nginx on the old weights.
    for (const [what, cmd] of this.commands(app)) {
      const r = await this.run(typeof cmd === 'string' ? cmd : [...cmd], {
        cwd: '/',
        env: {},
        timeoutMs: this.settings.nginx.commandTimeoutMs,
      });
      if (r.ok) continue;
      await this.restore(path, previous);
      throw new BalancerError(`nginx refused the upstream for ${app} (${what}): ${said(r)}`, {
        details: { app, command: what, code: r.code, timedOut: r.timedOut },
      });
    }
    this.log.info({ app, weights: Object.fromEntries(slots.map((s) => [s.slot, s.weight])) }, 'nginx upstream reloaded');
  }

  private async restore(path: string, previous: string | null): Promise<void> {
    try {
      if (previous === null) await rm(path, { force: true });
      else await writeAtomic(path, previous);
    } catch (err) {
      this.log.error({ err, path }, 'cannot restore the previous nginx upstream file');
    }
  }
}

/** A reader (nginx -t, a reload) sees the old file or the new one, never half of one. */
async function writeAtomic(path: string, text: string): Promise<void> {
  // The dot keeps a `*.conf` include glob from ever reading the temporary file.
  const tmp = join(path, '..', `.${path.split('/').pop() as string}.tmp`);
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path);
}
