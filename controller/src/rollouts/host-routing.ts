import { matchesSelector } from '@flotilla/shared';
import type { HostEvent } from '../hosts.js';
import type { LiveRollout } from './live-rollout.js';
import type { RolloutHostSource } from './types.js';

/**
 * Which live rollouts each host belongs to, and the events a host's heartbeat or state change
 * means for them. An event reaches a rollout only when it says something new (`fresh`), so a
 * fleet's steady heartbeats cost the rollouts nothing.
 */
export class HostRouting {
  private readonly byHost = new Map<string, Set<LiveRollout>>();

  add(live: LiveRollout): void {
    for (const hostId of live.hostIds) {
      let set = this.byHost.get(hostId);
      if (!set) this.byHost.set(hostId, (set = new Set()));
      set.add(live);
    }
  }

  remove(live: LiveRollout): void {
    for (const hostId of live.hostIds) {
      const set = this.byHost.get(hostId);
      set?.delete(live);
      if (set?.size === 0) this.byHost.delete(hostId);
    }
  }

  /** Feeds a host's event to every rollout it concerns. */
  route(event: HostEvent, nowMs: number): void {
    const lives = this.byHost.get(event.hostId);
    if (lives === undefined) return;
    for (const live of lives) {
      if (event.type === 'heartbeat') {
        if (!matchesSelector(event.record.labels, live.selector)) {
          if (live.fresh(event.hostId, 'removed')) live.enqueue({ kind: 'host-removed', hostId: event.hostId, nowMs });
          continue;
        }
        const app = live.state.spec.app;
        const report = event.heartbeat.apps.find((a) => a.app === app);
        if (report && live.freshReport(event.hostId, report)) {
          live.enqueue({ kind: 'host-report', hostId: event.hostId, report, nowMs });
        }
      } else if (event.type === 'state' && event.state === 'down') {
        if (live.fresh(event.hostId, 'down')) live.enqueue({ kind: 'host-report', hostId: event.hostId, report: null, nowMs });
      }
    }
  }
}

/** Tells the engine about hosts of the rollout that are down now (they fail when their step starts). */
export function feedDownHosts(live: LiveRollout, hosts: RolloutHostSource, nowMs: number): void {
  for (const host of hosts.list()) {
    if (host.record.state === 'down' && live.hostIds.has(host.record.hostId) && live.fresh(host.record.hostId, 'down')) {
      live.enqueue({ kind: 'host-report', hostId: host.record.hostId, report: null, nowMs });
    }
  }
}
