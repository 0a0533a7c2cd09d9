import { ValidationError } from '@flotilla/shared';
import { describe, expect, it } from 'vitest';
import {
  formatPlan,
  orderHosts,
  parseFailureLimit,
  parseStepSize,
  parseSteps,
  planSteps,
  resolveFailureLimit,
  resolveStepSize,
  stepTargets,
} from './plan.js';
import { makeRolloutSpec } from './spec.js';
import type { PlanHost, RolloutSpecInput } from './types.js';

function fleet(n: number, zones: readonly string[] = ['a', 'b', 'c']): PlanHost[] {
  return Array.from({ length: n }, (_, i): PlanHost => ({
    hostId: `h${String(i + 1).padStart(2, '0')}`,
    labels: zones.length > 0 ? { zone: zones[i % zones.length] as string } : {},
  }));
}

function spec(over: Partial<RolloutSpecInput> = {}) {
  return makeRolloutSpec({ app: 'web', version: '2.0.0', createdBy: 'alice', ...over });
}

const sizes = (steps: string[][]) => steps.map((s) => s.length);

describe('parseStepSize', () => {
  it('reads host counts and percentages', () => {
    expect(parseStepSize('3')).toEqual({ kind: 'count', value: 3 });
    expect(parseStepSize(' 3 ')).toEqual({ kind: 'count', value: 3 });
    expect(parseStepSize(5)).toEqual({ kind: 'count', value: 5 });
    expect(parseStepSize('25%')).toEqual({ kind: 'percent', value: 25 });
    expect(parseStepSize('12.5%')).toEqual({ kind: 'percent', value: 12.5 });
    expect(parseStepSize('100%')).toEqual({ kind: 'percent', value: 100 });
  });

  it.each(['0', '0%', '-1', '-5%', '101%', '150%', 'abc', '', '1.5', '25 %', '%', '3h', '1e3'])(
    'refuses "%s" with a ValidationError naming it',
    (input) => {
      expect(() => parseStepSize(input, '--batch')).toThrow(ValidationError);
      expect(() => parseStepSize(input, '--batch')).toThrow(/--batch/);
    },
  );

  it.each([0, -1, 1.5, Number.NaN])('refuses the number %s', (input) => {
    expect(() => parseStepSize(input)).toThrow(ValidationError);
  });

  it('allows zero only for the failure budget', () => {
    expect(parseFailureLimit('0')).toEqual({ kind: 'count', value: 0 });
    expect(parseFailureLimit(0)).toEqual({ kind: 'count', value: 0 });
    expect(parseFailureLimit('0%')).toEqual({ kind: 'percent', value: 0 });
    expect(parseFailureLimit('10%')).toEqual({ kind: 'percent', value: 10 });
    for (const bad of ['-1', '150%', 'many']) expect(() => parseFailureLimit(bad)).toThrow(ValidationError);
  });
});

describe('parseSteps', () => {
  it('reads a cumulative step list', () => {
    expect(parseSteps('1,10%,50%,100%')).toEqual([
      { kind: 'count', value: 1 },
      { kind: 'percent', value: 10 },
      { kind: 'percent', value: 50 },
      { kind: 'percent', value: 100 },
    ]);
    expect(parseSteps([1, '10%', ' 2 '])).toHaveLength(3);
  });

  it.each(['', '1,,2', '50%,10%', '1,1', '3,2', 'x,1', '1,0%'])('refuses "%s"', (input) => {
    expect(() => parseSteps(input)).toThrow(ValidationError);
  });

  it('refuses an empty array', () => {
    expect(() => parseSteps([])).toThrow(/empty/);
  });
});

describe('rounding', () => {
  it('rounds step percentages up and never below one host', () => {
    const pct = (value: number) => ({ kind: 'percent' as const, value });
    expect([1, 2, 3, 4, 5].map((n) => resolveStepSize(pct(25), n))).toEqual([1, 1, 1, 1, 2]);
    expect([1, 2, 3, 10, 11, 30, 31].map((n) => resolveStepSize(pct(10), n))).toEqual([1, 1, 1, 1, 2, 3, 4]);
    expect(resolveStepSize(pct(100), 7)).toBe(7);
    expect(resolveStepSize({ kind: 'count', value: 5 }, 3)).toBe(3);
  });

  it('rounds failure percentages down', () => {
    const pct = (value: number) => ({ kind: 'percent' as const, value });
    expect(resolveFailureLimit(pct(10), 9)).toBe(0);
    expect(resolveFailureLimit(pct(10), 10)).toBe(1);
    expect(resolveFailureLimit(pct(10), 19)).toBe(1);
    expect(resolveFailureLimit(pct(50), 3)).toBe(1);
    expect(resolveFailureLimit(pct(0), 100)).toBe(0);
    expect(resolveFailureLimit({ kind: 'count', value: 2 }, 1)).toBe(2);
  });
});

describe('planSteps', () => {
  it('on a one-host fleet the canary is the only step', () => {
    expect(planSteps(fleet(1), spec())).toEqual([['h01']]);
    expect(planSteps(fleet(1), spec({ canary: '10%', batch: '25%' }))).toEqual([['h01']]);
    expect(planSteps(fleet(1), spec({ steps: '1,10%,50%,100%' }))).toEqual([['h01']]);
  });

  it('on two and three hosts every step holds one host', () => {
    expect(sizes(planSteps(fleet(2), spec({ batch: '25%' })))).toEqual([1, 1]);
    expect(sizes(planSteps(fleet(3), spec({ batch: '25%' })))).toEqual([1, 1, 1]);
    expect(sizes(planSteps(fleet(3), spec({ canary: '10%', batch: '10%' })))).toEqual([1, 1, 1]);
    expect(sizes(planSteps(fleet(2), spec({ steps: '1,10%,50%,100%' })))).toEqual([1, 1]);
    // 1 → 10% of 3 is 1 again (dropped) → 50% of 3 is 2 → 3.
    expect(sizes(planSteps(fleet(3), spec({ steps: '1,10%,50%,100%' })))).toEqual([1, 1, 1]);
  });

  it('cuts the default strategy into a canary and 25% batches of the whole selection', () => {
    expect(stepTargets(spec(), 10)).toEqual([1, 4, 7, 10]);
    expect(sizes(planSteps(fleet(10), spec()))).toEqual([1, 3, 3, 3]);
    expect(stepTargets(spec({ canary: 2, batch: 4 }), 9)).toEqual([2, 6, 9]);
    expect(stepTargets(spec({ canary: 5 }), 3)).toEqual([3]);
  });

  it('treats explicit steps as cumulative targets and always ends at 100%', () => {
    expect(stepTargets(spec({ steps: '1,10%,50%,100%' }), 20)).toEqual([1, 2, 10, 20]);
    expect(stepTargets(spec({ steps: '1,50%' }), 10)).toEqual([1, 5, 10]);
    expect(stepTargets(spec({ steps: '100%' }), 6)).toEqual([6]);
    expect(stepTargets(spec({ steps: '2,50%,5' }), 6)).toEqual([2, 3, 5, 6]);
  });

  it('covers every host exactly once with no empty step, whatever the fleet size', () => {
    const strategies: Partial<RolloutSpecInput>[] = [
      {},
      { canary: '10%', batch: '10%' },
      { canary: 3, batch: '33%' },
      { steps: '1,10%,50%,100%' },
      { steps: '5%,2,90%' },
    ];
    for (let n = 1; n <= 40; n++) {
      const hosts = fleet(n);
      for (const s of strategies) {
        const steps = planSteps(hosts, spec(s));
        const all = steps.flat();
        expect(new Set(all).size).toBe(n);
        expect(all).toHaveLength(n);
        expect(steps.every((step) => step.length >= 1)).toBe(true);
      }
    }
  });

  it('gives the same plan whatever order the hosts are listed in', () => {
    const hosts = fleet(12);
    const reversed = [...hosts].reverse();
    const rotated = [...hosts.slice(5), ...hosts.slice(0, 5)];
    const plan = planSteps(hosts, spec());
    expect(planSteps(reversed, spec())).toEqual(plan);
    expect(planSteps(rotated, spec())).toEqual(plan);
  });

  it('does not make one host the canary of every app', () => {
    const hosts = fleet(12);
    const canaries = new Set(['web', 'api', 'db', 'cache', 'queue', 'auth'].map((app) => orderHosts(hosts, app, 'zone')[0]));
    expect(canaries.size).toBeGreaterThan(1);
  });

  it('spreads each batch across zones', () => {
    const hosts = fleet(9, ['a', 'b', 'c']);
    const zoneOf = new Map(hosts.map((h) => [h.hostId, h.labels.zone]));
    const steps = planSteps(hosts, spec({ steps: '3,6,9' }));
    expect(sizes(steps)).toEqual([3, 3, 3]);
    for (const step of steps) expect(new Set(step.map((id) => zoneOf.get(id)))).toEqual(new Set(['a', 'b', 'c']));
  });

  it('spreads zones of unequal size in proportion', () => {
    const hosts: PlanHost[] = [
      ...Array.from({ length: 6 }, (_, i) => ({ hostId: `big${i}`, labels: { zone: 'big' } })),
      ...Array.from({ length: 2 }, (_, i) => ({ hostId: `small${i}`, labels: { zone: 'small' } })),
    ];
    const steps = planSteps(hosts, spec({ steps: '4,8' }));
    for (const step of steps) {
      expect(step.filter((id) => id.startsWith('small'))).toHaveLength(1);
    }
  });

  it('groups hosts without the label together and honours another spread label', () => {
    const hosts: PlanHost[] = [
      { hostId: 'r1a', labels: { rack: 'r1' } },
      { hostId: 'r1b', labels: { rack: 'r1' } },
      { hostId: 'r2a', labels: { rack: 'r2' } },
      { hostId: 'r2b', labels: { rack: 'r2' } },
      { hostId: 'bare1', labels: {} },
      { hostId: 'bare2', labels: {} },
    ];
    const steps = planSteps(hosts, spec({ steps: '3,6', spreadBy: 'rack' }));
    const firstGroups = new Set(steps[0]?.map((id) => id.slice(0, 2)));
    expect(firstGroups).toEqual(new Set(['r1', 'r2', 'ba']));
  });

  it('plans nothing for no hosts and refuses a host listed twice', () => {
    expect(planSteps([], spec())).toEqual([]);
    expect(() => planSteps([...fleet(2), { hostId: 'h01', labels: {} }], spec())).toThrow(/listed twice/);
  });
});

describe('formatPlan', () => {
  it('lists every step with its hosts, zones and gates', () => {
    const hosts = fleet(10);
    const s = spec({ selector: 'role=web', pauseAfterCanary: true, canaryBake: '1m', bake: '30s', maxFailures: '10%' });
    const text = formatPlan(planSteps(hosts, s), s, hosts);
    expect(text).toContain('rollout of web@2.0.0: 10 hosts (selector role=web) in 4 steps');
    expect(text).toContain('canary: 1 host, reaching 1/10 (10%)');
    expect(text).toContain('step 4: 3 hosts, reaching 10/10 (100%)');
    expect(text).toContain('then bake 1m00s, then wait for promote');
    expect(text).toContain('then bake 30.0s');
    expect(text).toContain('tolerates 1 failed host (10%, rounded down)');
    for (const h of hosts) expect(text).toContain(`${h.hostId}  zone=${h.labels.zone}`);
  });

  it('says when no host matches', () => {
    expect(formatPlan([], spec())).toContain('no hosts match (all hosts); nothing to do');
  });
});
