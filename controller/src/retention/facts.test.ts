import { describe, expect, it } from 'vitest';
import type { Assignment } from '@flotilla/shared';
import type { RolloutState } from '../engine/index.js';
import type { AppRecord } from '../store/records.js';
import { retentionFacts } from './facts.js';

function assigned(hostId: string, apps: Record<string, string>) {
  const assignment = {
    hostId,
    apps: Object.fromEntries(Object.entries(apps).map(([app, version]) => [app, { version }])),
  } as unknown as Assignment;
  return { record: {} as never, assignment };
}

describe('retentionFacts', () => {
  const hosts = new Map([
    ['h3', assigned('h3', { web: '1.0' })],
    ['h1', assigned('h1', { web: '1.0', api: '7' })],
    ['h2', assigned('h2', { web: '2.0' })],
  ]);
  const record: AppRecord = { name: 'web', stableVersion: '2.0', stableSinceMs: 1, createdAtMs: 0, previousStableVersion: '1.0' };
  const live = { id: 'web-5', spec: { version: '3.0' }, stableVersion: '2.0' } as unknown as RolloutState;
  const locks: string[] = [];
  const facts = retentionFacts({
    ledger: { record: async (app) => (app === 'web' ? record : null) },
    assignments: { hostIds: () => [...hosts.keys()], current: (id) => hosts.get(id) },
    rollouts: {
      activeRollout: (app) => (app === 'web' ? live : null),
      exclusive: async (app, fn) => {
        locks.push(app);
        return fn();
      },
    },
  });

  it('reads stable and previous stable from the ledger, as it holds them', async () => {
    expect(await facts.stableVersions('web')).toEqual({ stable: '2.0', previousStable: '1.0' });
    expect(await facts.stableVersions('api')).toEqual({ stable: null, previousStable: null });
  });

  it('groups the hosts assigned each version of the app, sorted', () => {
    expect(Object.fromEntries(facts.assignedHosts('web'))).toEqual({ '1.0': ['h1', 'h3'], '2.0': ['h2'] });
    expect(Object.fromEntries(facts.assignedHosts('api'))).toEqual({ '7': ['h1'] });
    expect(facts.assignedHosts('db').size).toBe(0);
  });

  it('names the active rollout with its target and the version it reverts to; runs under the app lock', async () => {
    expect(facts.activeRollout('web')).toEqual({ id: 'web-5', target: '3.0', source: '2.0' });
    expect(facts.activeRollout('api')).toBeNull();
    expect(await facts.exclusive('web', async () => 42)).toBe(42);
    expect(locks).toEqual(['web']);
  });
});
