import { describe, expect, it } from 'vitest';
import { decodeHeartbeat, decodeHeartbeatTick, isHeartbeatTick, type Heartbeat } from '@flotilla/shared';
import { HeartbeatForms } from './heartbeat-form.js';

const offer = { fullEvery: 4 };

function beat(n: number, extra: Partial<Heartbeat> = {}): Heartbeat {
  return {
    type: 'heartbeat',
    hostId: 'web-1',
    n,
    bootId: 'boot-1',
    sentAtMs: 1000 * n,
    heartbeatIntervalMs: 1000,
    acceptedSeq: 3,
    load: { cpuPercent: n, memUsedBytes: 100 + n, memTotalBytes: 1000, diskFreeBytes: 500 },
    apps: [],
    labels: { env: 'prod' },
    trust: { acceptedEpoch: 1, keyEpoch: 1, stale: false, error: null },
    ...extra,
  };
}

/** 'full' or 'tick:<basisN>' for each body. */
function forms(bodies: Uint8Array[]): string[] {
  return bodies.map((b) => (isHeartbeatTick(b) ? `tick:${decodeHeartbeatTick(b).basisN}` : `full:${decodeHeartbeat(b).n}`));
}

describe('HeartbeatForms', () => {
  it('sends ticks naming the last full heartbeat while nothing but the load changes, and a full one every fullEvery beats', () => {
    const f = new HeartbeatForms();
    const bodies = Array.from({ length: 9 }, (_, i) => f.encode(beat(i + 1), offer));
    expect(forms(bodies)).toEqual(['full:1', 'tick:1', 'tick:1', 'tick:1', 'full:5', 'tick:5', 'tick:5', 'tick:5', 'full:9']);
    expect(decodeHeartbeatTick(bodies[2] as Uint8Array)).toMatchObject({ n: 3, bootId: 'boot-1', sentAtMs: 3000, load: beat(3).load });
  });

  it('sends a full heartbeat whenever apps, accepted seq, labels or trust change', () => {
    const f = new HeartbeatForms();
    const app = { app: 'web', desiredVersion: '1.0.0', activeVersion: '1.0.0', processState: 'running', pid: 7, restarts: 0, health: 'healthy', healthSinceMs: 1, installPhase: 'done', installVersion: '1.0.0', error: null, updatedAtMs: 1 } as const;
    const bodies = [
      f.encode(beat(1), offer),
      f.encode(beat(2), offer),
      f.encode(beat(3, { acceptedSeq: 4 }), offer),
      f.encode(beat(4, { acceptedSeq: 4 }), offer),
      f.encode(beat(5, { acceptedSeq: 4, apps: [app] }), offer),
      f.encode(beat(6, { acceptedSeq: 4, apps: [{ ...app, health: 'unhealthy' }] }), offer),
      f.encode(beat(7, { acceptedSeq: 4, apps: [{ ...app, health: 'unhealthy' }], labels: { env: 'staging' } }), offer),
      f.encode(beat(8, { acceptedSeq: 4, apps: [{ ...app, health: 'unhealthy' }], labels: { env: 'staging' }, trust: { acceptedEpoch: 1, keyEpoch: 1, stale: true, error: null } }), offer),
    ];
    expect(forms(bodies)).toEqual(['full:1', 'tick:1', 'full:3', 'tick:3', 'full:5', 'full:6', 'full:7', 'full:8']);
  });

  it('sends only full heartbeats to a controller that offered no ticks (an older one)', () => {
    const f = new HeartbeatForms();
    expect(forms([1, 2, 3].map((n) => f.encode(beat(n), null)))).toEqual(['full:1', 'full:2', 'full:3']);
  });

  it('sends a full heartbeat first after a reset (a new connection) and for a new boot', () => {
    const f = new HeartbeatForms();
    const bodies = [f.encode(beat(1), offer), f.encode(beat(2), offer)];
    f.reset();
    bodies.push(f.encode(beat(3), offer), f.encode(beat(1, { bootId: 'boot-2' }), offer));
    expect(forms(bodies)).toEqual(['full:1', 'tick:1', 'full:3', 'full:1']);
  });

  it('sends full heartbeats only for a boot id a tick cannot carry', () => {
    const f = new HeartbeatForms();
    expect(forms([1, 2].map((n) => f.encode(beat(n, { bootId: 'boot 1' }), offer)))).toEqual(['full:1', 'full:2']);
  });
});
