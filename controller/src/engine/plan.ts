import { createHash } from 'node:crypto';
import { formatDuration, ValidationError } from '@flotilla/shared';
import type { PlanHost, RolloutSpec, StepSize } from './types.js';

const COUNT = /^\d+$/;
const PERCENT = /^(\d+(?:\.\d+)?)%$/;

/**
 * Reads a step size: `3` (hosts) or `25%` (of the whole selection). Zero, negative, fractional
 * counts, percentages above 100 and anything else are refused.
 */
export function parseStepSize(input: string | number, what = 'step size'): StepSize {
  const size = readSize(input, what);
  if (size.value <= 0) throw new ValidationError(`${what}: "${input}" must be more than zero`);
  return size;
}

/** Like `parseStepSize`, but zero is allowed: the failure budget may be none at all. */
export function parseFailureLimit(input: string | number, what = 'max failures'): StepSize {
  return readSize(input, what);
}

/** Reads an explicit step list, `1,10%,50%,100%` or an array of sizes. */
export function parseSteps(input: string | ReadonlyArray<string | number>, what = 'steps'): StepSize[] {
  const parts = typeof input === 'string' ? input.split(',').map((p) => p.trim()) : [...input];
  if (parts.length === 0 || (parts.length === 1 && parts[0] === '')) {
    throw new ValidationError(`${what}: the list is empty (give sizes such as 1,10%,50%,100%)`);
  }
  const steps = parts.map((p, i) => parseStepSize(p, `${what} #${i + 1}`));
  // Mixed kinds cannot be compared without the fleet's size; same kinds must grow.
  for (let i = 1; i < steps.length; i++) {
    const prev = steps[i - 1] as StepSize;
    const cur = steps[i] as StepSize;
    if (prev.kind === cur.kind && cur.value <= prev.value) {
      throw new ValidationError(
        `${what}: steps are cumulative targets and must grow, but ${formatStepSize(cur)} follows ${formatStepSize(prev)}`,
      );
    }
  }
  return steps;
}

/**
 * Reads traffic steps, `5%,25%,50%,100%`: whole percents from 1 to 100 that grow; a final 100% is
 * added when the list stops short of it.
 */
export function parseTrafficSteps(input: string | ReadonlyArray<string | number>, what = '--traffic'): number[] {
  const parts = typeof input === 'string' ? input.split(',').map((p) => p.trim()) : [...input].map((p) => String(p).trim());
  if (parts.length === 0 || (parts.length === 1 && parts[0] === '')) {
    throw new ValidationError(`${what}: the list is empty (give percents such as 5%,25%,50%,100%)`);
  }
  const weights = parts.map((p, i) => {
    const m = /^(\d{1,3})%?$/.exec(p);
    const value = m ? Number(m[1]) : NaN;
    if (!(value >= 1 && value <= 100)) throw new ValidationError(`${what} #${i + 1}: "${p}" is not a whole percent from 1% to 100%`);
    return value;
  });
  for (let i = 1; i < weights.length; i++) {
    if ((weights[i] as number) <= (weights[i - 1] as number)) {
      throw new ValidationError(`${what}: traffic steps must grow, but ${weights[i]}% follows ${weights[i - 1]}%`);
    }
  }
  if (weights[weights.length - 1] !== 100) weights.push(100);
  return weights;
}

export function formatStepSize(size: StepSize): string {
  return size.kind === 'percent' ? `${size.value}%` : String(size.value);
}

function readSize(input: string | number, what: string): StepSize {
  if (typeof input === 'number') {
    if (!Number.isInteger(input) || input < 0) {
      throw new ValidationError(`${what}: ${input} is not a whole, non-negative number of hosts`);
    }
    return { kind: 'count', value: input };
  }
  const text = input.trim();
  if (COUNT.test(text)) return { kind: 'count', value: Number(text) };
  const m = PERCENT.exec(text);
  if (m) {
    const value = Number(m[1]);
    if (value > 100) throw new ValidationError(`${what}: "${input}" is more than 100%`);
    return { kind: 'percent', value };
  }
  throw new ValidationError(`${what}: "${input}" is not a host count (3) or a percentage (25%)`);
}

/** Hosts a size stands for in a selection of `total`: percentages round up, never below one. */
export function resolveStepSize(size: StepSize, total: number): number {
  if (total <= 0) return 0;
  if (size.kind === 'count') return Math.min(total, Math.max(1, size.value));
  // The small epsilon keeps 10% of 30 at 3 whatever the float error of the product.
  return Math.min(total, Math.max(1, Math.ceil((size.value * total) / 100 - 1e-9)));
}

/** Failed hosts tolerated in a selection of `total`: percentages round down (0% tolerates none). */
export function resolveFailureLimit(size: StepSize, total: number): number {
  if (size.kind === 'count') return size.value;
  return Math.floor((size.value * total) / 100 + 1e-9);
}

function rank(app: string, key: string): string {
  return createHash('sha256').update(`${app}\u0000${key}`).digest('hex');
}

/**
 * Orders the selection so that each step spans the spread label's values in proportion to their
 * sizes. Within one label value hosts go by a hash of (app, host id): the order does not depend
 * on how the hosts were listed, stays the same for every rollout of the app, and differs between
 * apps so that one host is not every app's canary.
 */
export function orderHosts(hosts: readonly PlanHost[], app: string, spreadBy: string): string[] {
  const seen = new Set<string>();
  const groups = new Map<string, { rank: string; members: { hostId: string; rank: string }[] }>();
  for (const host of hosts) {
    if (seen.has(host.hostId)) throw new ValidationError(`host "${host.hostId}" is listed twice`);
    seen.add(host.hostId);
    const value = host.labels[spreadBy] ?? '';
    let group = groups.get(value);
    if (!group) {
      group = { rank: rank(app, `${spreadBy}=${value}`), members: [] };
      groups.set(value, group);
    }
    group.members.push({ hostId: host.hostId, rank: rank(app, host.hostId) });
  }
  // Host i of a group of n sits at (i + 0.5) / n along the order; compared as integers
  // ((2i+1)·m against (2j+1)·n) so that ties are exact and fall to the group's own rank.
  const placed: { hostId: string; num: number; den: number; groupRank: string }[] = [];
  for (const group of groups.values()) {
    group.members.sort((a, b) => cmp(a.rank, b.rank) || cmp(a.hostId, b.hostId));
    const n = group.members.length;
    group.members.forEach((m, i) => placed.push({ hostId: m.hostId, num: 2 * i + 1, den: n, groupRank: group.rank }));
  }
  placed.sort((a, b) => a.num * b.den - b.num * a.den || cmp(a.groupRank, b.groupRank) || cmp(a.hostId, b.hostId));
  return placed.map((p) => p.hostId);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Cumulative host counts the steps reach, the last always being `total`. */
export function stepTargets(spec: Pick<RolloutSpec, 'strategy'>, total: number): number[] {
  if (total <= 0) return [];
  const targets: number[] = [];
  const reach = (n: number) => {
    const last = targets[targets.length - 1] ?? 0;
    if (n > last) targets.push(Math.min(total, n));
  };
  const strategy = spec.strategy;
  if (strategy.kind === 'batches') {
    reach(resolveStepSize(strategy.canary, total));
    const batch = resolveStepSize(strategy.batch, total);
    // Bounded: each pass adds at least one host.
    while ((targets[targets.length - 1] ?? 0) < total) reach((targets[targets.length - 1] ?? 0) + batch);
  } else {
    for (const step of strategy.steps) reach(resolveStepSize(step, total));
    reach(total);
  }
  return targets;
}

/**
 * Cuts the selection into ordered steps (arrays of host ids): the canary first, every step at
 * least one host, the last reaching every host. No hosts, no steps.
 */
export function planSteps(
  hosts: readonly PlanHost[],
  spec: Pick<RolloutSpec, 'app' | 'strategy' | 'spreadBy'>,
): string[][] {
  const order = orderHosts(hosts, spec.app, spec.spreadBy);
  const steps: string[][] = [];
  let from = 0;
  for (const target of stepTargets(spec, order.length)) {
    steps.push(order.slice(from, target));
    from = target;
  }
  return steps;
}

/** The plan as text, for `rollout start --dry-run`. */
export function formatPlan(
  steps: readonly (readonly string[])[],
  spec: RolloutSpec,
  hosts: readonly PlanHost[] = [],
): string {
  const total = steps.reduce((n, s) => n + s.length, 0);
  const labels = new Map(hosts.map((h) => [h.hostId, h.labels]));
  const lines: string[] = [];
  const selector = spec.selector === '' ? 'all hosts' : `selector ${spec.selector}`;
  if (total === 0) {
    lines.push(`rollout of ${spec.app}@${spec.version}: no hosts match (${selector}); nothing to do`);
    return lines.join('\n');
  }
  lines.push(
    `rollout of ${spec.app}@${spec.version}: ${plural(total, 'host')} (${selector}) in ${plural(steps.length, 'step')}`,
  );
  let reached = 0;
  steps.forEach((step, i) => {
    reached += step.length;
    const name = i === 0 ? 'canary' : `step ${i + 1}`;
    const spread = new Set(step.map((id) => labels.get(id)?.[spec.spreadBy]).filter((v) => v !== undefined));
    const spreadText = spread.size > 0 ? `, ${spec.spreadBy}: ${[...spread].sort().join(' ')}` : '';
    lines.push(
      `  ${name}: ${plural(step.length, 'host')}, reaching ${reached}/${total} (${Math.round((reached * 100) / total)}%)${spreadText}`,
    );
    for (const id of step) {
      const value = labels.get(id)?.[spec.spreadBy];
      lines.push(value === undefined ? `    ${id}` : `    ${id}  ${spec.spreadBy}=${value}`);
    }
    if (i === 0 && spec.traffic !== undefined && spec.traffic.length > 0) {
      lines.push(`    traffic: ${spec.traffic.map((w) => `${w}%`).join(' → ')} of the requests, beside the old release; each weight gated and baked`);
    }
    if (i === 0 && steps.length > 1 && (spec.canaryBakeMs > 0 || spec.pauseAfterCanary)) {
      const bake = spec.canaryBakeMs > 0 ? `then bake ${formatDuration(spec.canaryBakeMs)}` : '';
      const gate = spec.pauseAfterCanary ? `${bake ? ', then ' : 'then '}wait for promote` : '';
      lines.push(`    ${bake}${gate}`);
    } else if (i < steps.length - 1 && spec.bakeMs > 0) {
      lines.push(`    then bake ${formatDuration(spec.bakeMs)}`);
    }
  });
  const limit = resolveFailureLimit(spec.maxFailures, total);
  lines.push(
    `gates: healthy for ${formatDuration(spec.minHealthyTimeMs)} within ${formatDuration(spec.healthyDeadlineMs)} of assignment; ` +
      `more than ${spec.crashLoopRestarts} restarts fails a host; tolerates ${plural(limit, 'failed host')}` +
      (spec.maxFailures.kind === 'percent' ? ` (${spec.maxFailures.value}%, rounded down)` : ''),
  );
  lines.push(
    `then: stable after ${formatDuration(spec.stableAfterMs)}; on failure ${spec.autoRevert ? 'revert touched hosts to the stable version' : 'stop and leave hosts as they are'}`,
  );
  return lines.join('\n');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
