import { describe, expect, it } from 'vitest';
import type { ClusterInfo__Output } from '@flotilla/proto';
import { clusterSummary } from './status.js';

const now = 1_000_000;
const controller = (id: string, state: string) => ({ id, grpc: `${id}:7400`, http: `${id}:7401`, state, started_at_ms: '1', seen_at_ms: String(now) });

describe('clusterSummary', () => {
  it('names the leader, since when, its fence, and every controller', () => {
    const cluster: ClusterInfo__Output = {
      self: 'c-b',
      role: 'follower',
      leader_id: 'c-a',
      leader_since_ms: String(now - 90_000),
      leader_fence: '7',
      controllers: [controller('c-a', 'leader'), controller('c-b', 'follower'), controller('c-c', 'gone')],
    };
    expect(clusterSummary(cluster, now)).toBe(
      'controllers: leader c-a since 1m ago (fence 7); c-a leader at c-a:7400, c-b follower at c-b:7400 (answered), c-c gone at c-c:7400',
    );
  });

  it('says nothing for one controller, and says when nobody leads', () => {
    expect(clusterSummary({ self: 'c-a', role: 'leader', leader_id: 'c-a', leader_since_ms: '1', leader_fence: '1', controllers: [controller('c-a', 'leader')] }, now)).toBeNull();
    expect(clusterSummary(null, now)).toBeNull();
    const none = { self: 'c-a', role: 'follower', leader_id: '', leader_since_ms: '0', leader_fence: '0', controllers: [controller('c-a', 'follower'), controller('c-b', 'gone')] };
    expect(clusterSummary(none, now)).toMatch(/^controllers: no leader right now; /);
  });
});
