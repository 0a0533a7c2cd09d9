import type { ClusterInfo } from '@flotilla/proto';
import type { Leadership } from './cluster/leadership.js';

/** The cluster as one controller sees it. */
export interface ClusterView {
  readonly self: string;
  readonly role: 'follower' | 'leader' | 'deposed';
  readonly leader: { id: string; fence: number; sinceMs: number; grpc: string; http: string } | null;
  /** Every controller that announced itself; `gone` when it has not for three renewal intervals. */
  readonly controllers: { id: string; grpc: string; http: string; startedAtMs: number; seenAtMs: number; state: 'leader' | 'follower' | 'gone' }[];
}

/**
 * Which controller leads, since when, and every controller's last word. Before the leadership
 * starts there is only this controller, a follower.
 */
export async function clusterView(self: string, leadership: Leadership | undefined, renewIntervalMs: number, nowMs: number): Promise<ClusterView> {
  const leader = leadership?.leader() ?? null;
  const members = await (leadership?.members() ?? Promise.resolve([])).catch(() => []);
  const staleAfterMs = 3 * renewIntervalMs;
  return {
    self,
    role: leadership?.role ?? 'follower',
    leader: leader?.holder ? { id: leader.holder, fence: leader.fence, sinceMs: leader.sinceMs, grpc: leader.grpc, http: leader.http } : null,
    controllers: members
      .map((m) => ({
        id: m.id,
        grpc: m.grpc,
        http: m.http,
        startedAtMs: m.startedAtMs,
        seenAtMs: m.seenAtMs,
        state: nowMs - m.seenAtMs > staleAfterMs ? ('gone' as const) : m.role,
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
  };
}

/** The cluster view as `flotilla status` receives it. */
export function clusterInfo(view: ClusterView): ClusterInfo {
  return {
    self: view.self,
    role: view.role,
    leader_id: view.leader?.id ?? '',
    leader_since_ms: String(view.leader?.sinceMs ?? 0),
    leader_fence: String(view.leader?.fence ?? 0),
    controllers: view.controllers.map((c) => ({
      id: c.id,
      grpc: c.grpc,
      http: c.http,
      state: c.state,
      started_at_ms: String(c.startedAtMs),
      seen_at_ms: String(c.seenAtMs),
    })),
  };
}
