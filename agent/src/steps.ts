import type { Logger } from '@flotilla/shared';

/**
 * One step of a host-side runner (after Nomad's task-runner hooks): a name, what it does, and how
 * to put it right when a later step fails. Every `run` is idempotent, so a step that was cut short
 * by a crash is simply run again.
 */
export interface Step<C> {
  readonly name: string;
  run(ctx: C): Promise<void>;
  /** Puts the world back as it was before `run`, when a later step fails. */
  undo?(ctx: C): Promise<void>;
  /** True when the step's effect is already there (a release on disk needs no download). */
  skip?(ctx: C): Promise<boolean>;
  /**
   * Once this step has run, the steps before it stand: a later failure undoes nothing before it
   * (after the link switch, going back is a new assignment's business, not a failed step's).
   */
  readonly commits?: true;
}

export interface RunStepsOptions<C, S extends Step<C>> {
  log: Logger;
  /** Names of the steps a previous attempt finished (from the agent's state). */
  done: readonly string[];
  /** Saves the names of the finished steps; a failure to save fails the run like a step would. */
  record(done: readonly string[]): Promise<void>;
  /** Called before a step runs; throwing stops the run there (an install called off). */
  before?(step: S): void;
  /** Called after a step ran, before its progress is saved (the fault-injection point). */
  after?(step: S): void;
}

/**
 * Runs `steps` in order, skipping those already done (see below), saving progress after each one. When a
 * step fails, the undo of every finished step since the last committing one runs, newest first,
 * and those steps count as not done any more; then the failure is rethrown.
 */
export async function runSteps<C, S extends Step<C>>(steps: readonly S[], ctx: C, opts: RunStepsOptions<C, S>): Promise<void> {
  const done = [...opts.done];
  // Steps before a committing step that finished stand for good, undo or not.
  let committed = -1;
  steps.forEach((step, i) => {
    if (step.commits && done.includes(step.name)) committed = i;
  });
  let undoable: S[] = [];
  const finished = (step: S): void => {
    if (!done.includes(step.name)) done.push(step.name);
    if (step.commits) undoable = [];
    else undoable.push(step);
  };
  for (const [i, step] of steps.entries()) {
    // A step that can be undone runs again even when recorded done (its run is idempotent): an
    // undo whose record never reached the disk must not leave it counted as done.
    if (done.includes(step.name) && (step.undo === undefined || i <= committed)) {
      finished(step);
      continue;
    }
    try {
      opts.before?.(step);
      if (!(await step.skip?.(ctx))) await step.run(ctx);
      finished(step);
      opts.after?.(step);
      await opts.record(done);
    } catch (err) {
      await undoAll(undoable, ctx, done, opts);
      throw err;
    }
  }
}

async function undoAll<C, S extends Step<C>>(undoable: readonly S[], ctx: C, done: string[], opts: RunStepsOptions<C, S>): Promise<void> {
  let changed = false;
  for (const step of [...undoable].reverse()) {
    if (step.undo === undefined) continue;
    try {
      await step.undo(ctx);
      done.splice(done.indexOf(step.name), 1);
      changed = true;
    } catch (err) {
      opts.log.error({ err, step: step.name }, 'undoing an install step failed');
    }
  }
  if (!changed) return;
  try {
    await opts.record(done);
  } catch (err) {
    // Steps are idempotent: a stale record only makes the next attempt redo a little more.
    opts.log.warn({ err }, 'cannot save install progress after an undo');
  }
}
