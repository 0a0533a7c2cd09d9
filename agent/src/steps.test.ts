import { describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/shared';
import { runSteps, type Step } from './steps.js';

const log = createLogger({ name: 'test', level: 'silent' });

/** A run's trace: which step ran or was undone, and each record saved. */
function harness(failAt?: string) {
  const trace: string[] = [];
  const records: string[][] = [];
  const step = (name: string, extra: Partial<Step<null>> = {}): Step<null> => ({
    name,
    run: async () => {
      trace.push(`run ${name}`);
      if (name === failAt) throw new Error(`${name} failed`);
    },
    ...extra,
  });
  const record = async (done: readonly string[]) => {
    records.push([...done]);
  };
  return { trace, records, step, record };
}

describe('runSteps', () => {
  it('runs the steps in order and saves progress after each one', async () => {
    const h = harness();
    await runSteps([h.step('a'), h.step('b'), h.step('c')], null, { log, done: [], record: h.record });
    expect(h.trace).toEqual(['run a', 'run b', 'run c']);
    expect(h.records).toEqual([['a'], ['a', 'b'], ['a', 'b', 'c']]);
  });

  it('resumes at the first step not recorded as done', async () => {
    const h = harness();
    await runSteps([h.step('a'), h.step('b'), h.step('c')], null, { log, done: ['a', 'b'], record: h.record });
    expect(h.trace).toEqual(['run c']);
  });

  it('skips a step whose effect is there, and counts it as done', async () => {
    const h = harness();
    await runSteps([h.step('a', { skip: async () => true }), h.step('b')], null, { log, done: [], record: h.record });
    expect(h.trace).toEqual(['run b']);
    expect(h.records.at(-1)).toEqual(['a', 'b']);
  });

  it('undoes the finished steps newest first when a later one fails, and forgets them as done', async () => {
    const h = harness('c');
    const undoable = (name: string) => h.step(name, { undo: async () => void h.trace.push(`undo ${name}`) });
    await expect(runSteps([undoable('a'), undoable('b'), h.step('c')], null, { log, done: [], record: h.record })).rejects.toThrow(
      'c failed',
    );
    expect(h.trace).toEqual(['run a', 'run b', 'run c', 'undo b', 'undo a']);
    expect(h.records.at(-1)).toEqual([]);
  });

  it('undoes nothing before a committing step that finished', async () => {
    const h = harness('c');
    const steps = [h.step('a', { undo: async () => void h.trace.push('undo a') }), h.step('b', { commits: true }), h.step('c')];
    await expect(runSteps(steps, null, { log, done: [], record: h.record })).rejects.toThrow();
    expect(h.trace).toEqual(['run a', 'run b', 'run c']);
    expect(h.records.at(-1)).toEqual(['a', 'b']);
  });

  it('runs an undoable step again even when recorded, unless a committing step after it finished', async () => {
    const h = harness();
    const a = h.step('a', { undo: async () => undefined });
    await runSteps([a, h.step('b')], null, { log, done: ['a'], record: h.record });
    expect(h.trace).toEqual(['run a', 'run b']);
    h.trace.length = 0;
    await runSteps([a, h.step('b', { commits: true }), h.step('c')], null, { log, done: ['a', 'b'], record: h.record });
    expect(h.trace).toEqual(['run c']);
  });

  it('fails the run when progress cannot be saved, undoing the step that just ran', async () => {
    const h = harness();
    const steps = [h.step('a', { undo: async () => void h.trace.push('undo a') })];
    const record = async () => {
      throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
    };
    await expect(runSteps(steps, null, { log, done: [], record })).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(h.trace).toEqual(['run a', 'undo a']);
  });
});
