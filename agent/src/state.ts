import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { APP_NAME, VERSION, errorMessage, signedAssignmentSchema, type Logger, type SignedAssignment } from '@flotilla/shared';
import type { ProcessIdentity } from './process/index.js';

export const STATE_FILE = 'state.json';

export interface AppLocalState {
  /** The version `current` points at, once the agent activated it. */
  readonly activeVersion: string | null;
  /** The version active before it, kept on disk for a fast revert. */
  readonly previousVersion: string | null;
  /**
   * The supervised process (pid and kernel start time, so a reused pid is never mistaken for it),
   * or null when the app is not meant to run (removed, or never started).
   */
  readonly process: ProcessIdentity | null;
  /**
   * The install of a version under way (or failed) and the steps it has finished, so that a
   * retry, also by the next agent process after a crash, resumes at the first unfinished step.
   * Absent when no install is unfinished.
   */
  readonly install?: InstallRecord;
  /** Where an app served from two slots stands (absent for any other app, and in older state files). */
  readonly traffic?: TrafficLocalState;
}

/** The two slots of an app behind a balancer, as last put in place. */
export interface TrafficLocalState {
  /** The slot `activeVersion` runs in. */
  readonly activeSlot: 'a' | 'b';
  /** Percent of traffic on the active slot as last applied (the balancer accepted it). */
  readonly weight: number;
  /** The release still running in the other slot (the one before), or null once it was retired. */
  readonly beside: { readonly version: string; readonly process: ProcessIdentity | null } | null;
}

/** What an install of one release has finished; tied to the release's bytes by their hash. */
export interface InstallRecord {
  readonly version: string;
  readonly sha256: string;
  /** Names of the finished steps, in the order they finished. */
  readonly done: readonly string[];
}

/** What the agent remembers across restarts. */
export interface LocalState {
  /** The highest assignment seq accepted (0 for none). Persisted before acting on it. */
  readonly acceptedSeq: number;
  /** The controller-key epoch `acceptedSeq` counts in. Absent (state of older agents): 1. */
  readonly acceptedEpoch?: number;
  /** The last accepted signed assignment, re-verified and converged on at start. */
  readonly assignment: SignedAssignment | null;
  readonly apps: Readonly<Record<string, AppLocalState>>;
}

export const EMPTY_STATE: LocalState = Object.freeze({ acceptedSeq: 0, assignment: null, apps: Object.freeze({}) });

const stateSchema = z.object({
  acceptedSeq: z.number().int().nonnegative(),
  acceptedEpoch: z.number().int().positive().optional(),
  assignment: signedAssignmentSchema.nullable(),
  apps: z.record(
    z.string().regex(APP_NAME),
    z.object({
      activeVersion: z.string().regex(VERSION).nullable(),
      previousVersion: z.string().regex(VERSION).nullable(),
      process: z
        .object({ pid: z.number().int().positive(), startTime: z.string().min(1) })
        .nullable(),
      install: z
        .object({
          version: z.string().regex(VERSION),
          sha256: z.string().regex(/^[0-9a-f]{64}$/),
          done: z.array(z.string().min(1).max(64)).max(64),
        })
        .optional(),
      traffic: z
        .object({
          activeSlot: z.enum(['a', 'b']),
          weight: z.number().int().min(0).max(100),
          beside: z
            .object({
              version: z.string().regex(VERSION),
              process: z.object({ pid: z.number().int().positive(), startTime: z.string().min(1) }).nullable(),
            })
            .nullable(),
        })
        .optional(),
    }),
  ),
});

/**
 * state.json, read once at start and replaced atomically on every change (temp file, fsync,
 * rename, fsync of the directory), so that a crash at any moment leaves either the old or the
 * new state on disk, never a mix. Writes are serialised in call order.
 */
export class StateStore {
  readonly path: string;
  private readonly logger: Logger;
  private chain: Promise<void> = Promise.resolve();

  constructor(dataDir: string, logger: Logger) {
    this.path = join(dataDir, STATE_FILE);
    this.logger = logger.child({ component: 'state' });
  }

  /**
   * The saved state, or the empty state when there is none. A file that cannot be read as state
   * is moved aside (`state.json.corrupt-<ms>`) and logged: the agent starts from empty (the
   * controller's sync gives it its assignment again) rather than refusing to start.
   */
  async load(now: number = Date.now()): Promise<LocalState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_STATE;
      throw err;
    }
    let problem: string;
    try {
      const r = stateSchema.safeParse(JSON.parse(text));
      if (r.success) return r.data;
      const issue = r.error.issues[0];
      problem = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown problem';
    } catch (err) {
      problem = `not valid JSON: ${errorMessage(err)}`;
    }
    const aside = `${this.path}.corrupt-${now}`;
    await rename(this.path, aside);
    this.logger.error({ path: this.path, movedTo: aside, problem }, 'state file is unreadable; moved aside, starting from empty state');
    return EMPTY_STATE;
  }

  /** Replaces state.json with `state`; resolves once it is durable. */
  save(state: LocalState): Promise<void> {
    const text = `${JSON.stringify(state, null, 2)}\n`;
    const next = this.chain.then(() => writeFileAtomic(this.path, text));
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/** Writes `text` to `path` so that readers see the old or the new content, never a partial one. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // The rename is only durable once the directory entry is.
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * The agent's state in memory, with every change written through to state.json. Nothing is
 * changed in memory before it is on disk: whoever reads `current` (a heartbeat reporting the
 * accepted seq, convergence) never sees a change that a full disk or an I/O error could still
 * undo. Changes are applied one after the other, each to the state the previous one left, so two
 * changes in flight never lose each other.
 */
export class StateKeeper {
  private state: LocalState;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Pick<StateStore, 'save'>,
    initial: LocalState,
  ) {
    this.state = initial;
  }

  /** The last state that reached the disk. */
  get current(): LocalState {
    return this.state;
  }

  /**
   * Writes `change` applied to the latest durable state; memory takes the result only once the
   * write succeeded. Rejects (memory unchanged) when it could not be written.
   */
  update(change: (state: LocalState) => LocalState): Promise<void> {
    const next = this.chain.then(async () => {
      const candidate = change(this.state);
      if (candidate === this.state) return;
      await this.store.save(candidate);
      this.state = candidate;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Changes one app's entry (created empty when missing). */
  updateApp(app: string, change: (entry: AppLocalState) => AppLocalState): Promise<void> {
    return this.update((s) => {
      const before = s.apps[app] ?? { activeVersion: null, previousVersion: null, process: null };
      const after = change(before);
      return after === before && s.apps[app] !== undefined ? s : { ...s, apps: { ...s.apps, [app]: after } };
    });
  }
}

export function sameProcess(a: ProcessIdentity | null | undefined, b: ProcessIdentity | null | undefined): boolean {
  return (a ?? null) === (b ?? null) || (!!a && !!b && a.pid === b.pid && a.startTime === b.startTime);
}
