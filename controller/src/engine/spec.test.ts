import { ValidationError } from '@flotilla/shared';
import { describe, expect, it } from 'vitest';
import { makeRolloutSpec } from './spec.js';
import type { RolloutSpecInput } from './types.js';

const base: RolloutSpecInput = { app: 'web', version: '2.0.0', createdBy: 'alice' };

describe('makeRolloutSpec', () => {
  it('fills the documented defaults', () => {
    expect(makeRolloutSpec(base)).toEqual({
      app: 'web',
      version: '2.0.0',
      selector: '',
      strategy: { kind: 'batches', canary: { kind: 'count', value: 1 }, batch: { kind: 'percent', value: 25 } },
      spreadBy: 'zone',
      minHealthyTimeMs: 10_000,
      healthyDeadlineMs: 300_000,
      bakeMs: 0,
      canaryBakeMs: 0,
      maxFailures: { kind: 'count', value: 0 },
      pauseAfterCanary: false,
      stableAfterMs: 0,
      autoRevert: true,
      crashLoopRestarts: 3,
      watchWindowMs: 600_000,
      createdBy: 'alice',
    });
  });

  it('reads durations, sizes and steps as an operator types them, and freezes the result', () => {
    const spec = makeRolloutSpec({
      ...base,
      selector: ' zone=eu ',
      steps: '1,10%,100%',
      minHealthyTime: '30s',
      healthyDeadline: '2m',
      bake: '1m',
      maxFailures: '10%',
      stableAfter: 5000,
      autoRevert: false,
      crashLoopRestarts: 0,
    });
    expect(spec.strategy).toEqual({
      kind: 'steps',
      steps: [
        { kind: 'count', value: 1 },
        { kind: 'percent', value: 10 },
        { kind: 'percent', value: 100 },
      ],
    });
    expect(spec.selector).toBe('zone=eu');
    expect([spec.minHealthyTimeMs, spec.healthyDeadlineMs, spec.bakeMs, spec.canaryBakeMs]).toEqual([
      30_000, 120_000, 60_000, 60_000,
    ]);
    expect(spec.stableAfterMs).toBe(5000);
    expect(spec.maxFailures).toEqual({ kind: 'percent', value: 10 });
    expect(spec.autoRevert).toBe(false);
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.strategy)).toBe(true);
  });

  it('keeps a separate canary bake', () => {
    const spec = makeRolloutSpec({ ...base, bake: '1m', canaryBake: '5m' });
    expect([spec.bakeMs, spec.canaryBakeMs]).toEqual([60_000, 300_000]);
  });

  it.each<[string, Partial<RolloutSpecInput>, RegExp]>([
    ['steps with canary', { steps: '1,100%', canary: 2 }, /cannot be combined/],
    ['deadline not past the healthy time', { minHealthyTime: '5m', healthyDeadline: '5m' }, /must be longer/],
    ['a bad duration', { bake: 'soon' }, /--bake/],
    ['a bad canary', { canary: '0' }, /--canary/],
    ['a bad batch', { batch: '200%' }, /--batch/],
    ['a bad failure budget', { maxFailures: '-1' }, /--max-failures/],
    ['a bad app', { app: 'Web!' }, /app name/],
    ['a bad version', { version: '../x' }, /version/],
    ['a bad selector', { selector: 'zone=a b' }, /selector/],
    ['a bad spread label', { spreadBy: '-zone' }, /spread label/],
    ['negative restarts', { crashLoopRestarts: -1 }, /crash-loop/],
    ['no author', { createdBy: ' ' }, /who started/],
  ])('refuses %s', (_name, over, message) => {
    expect(() => makeRolloutSpec({ ...base, ...over })).toThrow(ValidationError);
    expect(() => makeRolloutSpec({ ...base, ...over })).toThrow(message);
  });
});
