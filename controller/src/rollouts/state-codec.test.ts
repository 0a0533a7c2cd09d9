import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InternalError, ValidationError } from '@flotilla/shared';
import {
  HostTable,
  decide,
  fieldsOf,
  makeRolloutSpec,
  startRollout,
  stateOf,
  type HostProgress,
  type PlanHost,
  type RolloutAction,
  type RolloutSpecInput,
  type RolloutState,
} from '../engine/index.js';
import { DEFLATE_MARKER, STATE_VALUE_LIMIT, decodeRolloutState, encodeRolloutState } from './state-codec.js';
import { report } from '../testing/rollouts.js';

const T0 = 1_700_000_000_000;
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);


function fleet(n: number, id: (i: number) => string = (i) => `sim-${String(i).padStart(5, '0')}`): PlanHost[] {
  return Array.from({ length: n }, (_, i) => ({ hostId: id(i), labels: { zone: 'abc'[i % 3] as string } }));
}

function start(hosts: PlanHost[], over: Partial<RolloutSpecInput> = {}) {
  const spec = makeRolloutSpec({ app: 'web', version: '2.0.0', batch: '10%', minHealthyTime: '10s', createdBy: 'alice', ...over });
  return startRollout(spec, hosts, '1.0.0', T0, 'web-1');
}

/**
 * A rollout walked through every step: each step's hosts are acknowledged and report (every
 * 50th with a failing health check and an error text of its own), then pass with a tick.
 */
function walk(hosts: PlanHost[], over: Partial<RolloutSpecInput> = {}): RolloutState[] {
  const first = start(hosts, { maxFailures: '5%', ...over });
  let s = first.state;
  let now = T0;
  const seen = [s];
  let assign = first.actions.find((a): a is Extract<RolloutAction, { kind: 'assign' }> => a.kind === 'assign');
  for (let round = 0; round < s.steps.length + 1 && assign; round++) {
    s = decide(s, { kind: 'assigned', hostIds: assign.hostIds, version: '2.0.0', nowMs: ++now }).state;
    assign.hostIds.forEach((hostId, k) => {
      now += 3;
      const r =
        k % 50 === 7
          ? report('2.0.0', { health: 'unhealthy', error: `GET /healthz: 503 after ${k} ms (db-${k % 13} refused)` })
          : report('2.0.0');
      s = decide(s, { kind: 'host-report', hostId, report: r, nowMs: now }).state;
    });
    seen.push(s);
    now += 10_000;
    const d = decide(s, { kind: 'tick', nowMs: now });
    s = d.state;
    assign = d.actions.find((a): a is Extract<RolloutAction, { kind: 'assign' }> => a.kind === 'assign');
  }
  seen.push(s);
  return seen;
}

/** A host with every field set to something other than its start value. */
function everyField(hostId: string, step: number, i: number): HostProgress {
  return {
    hostId,
    step,
    state: (['assigned', 'healthy-wait', 'passed', 'failed', 'reverting', 'reverted', 'skipped', 'pending'] as const)[i % 8],
    assignedAtMs: T0 + 10 * i,
    assignSentAtMs: T0 + 10 * i + 1,
    assignAckedAtMs: T0 + 10 * i + 2,
    healthySinceMs: T0 + 10 * i + 3,
    unhealthySinceMs: T0 - 5,
    passedAtMs: T0 + 20 * i,
    failedAtMs: T0 + 7 * i,
    failureReason: `reason ${i % 3}, with "quotes", commas, and ünïcödé`,
    revertSentAtMs: T0 + 30 * i,
    revertedAtMs: T0 + 31 * i,
    down: i % 2 === 0,
    removed: i % 3 === 0,
    lastReport: {
      activeVersion: i % 2 ? '2.0.0' : null,
      processState: 'crash-loop',
      health: 'unhealthy',
      installPhase: 'failed',
      restarts: i,
      error: `e${i}`,
      // Only hosts of an app served from two slots report a weight; 0% is a weight too.
      ...(i % 4 === 1 ? { trafficWeight: i % 101 } : i % 4 === 3 ? { trafficWeight: 0 } : {}),
    },
  };
}

describe('the stored rollout state', () => {
  it('comes back exactly, every host field included', () => {
    const base = start(fleet(300)).state;
    const hosts = base.hosts.map((h, i) => everyField(h.hostId, h.step, i));
    const state = stateOf(fieldsOf(base), HostTable.of(hosts));
    const bytes = encodeRolloutState(state);
    expect(plain(decodeRolloutState(bytes, 'rollout.web-1'))).toStrictEqual(plain(state));
    // And the same when the value is deflated.
    const packed = encodeRolloutState(state, { plainUpTo: 0 });
    expect(text(packed.subarray(0, DEFLATE_MARKER.length))).toBe(DEFLATE_MARKER);
    expect(plain(decodeRolloutState(packed, 'rollout.web-1'))).toStrictEqual(plain(state));
  });

  it('comes back exactly at every stage of a rollout, and the engine goes on from it the same', () => {
    for (const state of walk(fleet(400))) {
      const back = decodeRolloutState(encodeRolloutState(state), 'rollout.web-1');
      expect(plain(back)).toStrictEqual(plain(state));
      const tick = { kind: 'tick', nowMs: state.updatedAtMs + 60_000 } as const;
      expect(plain(decide(back, tick))).toStrictEqual(plain(decide(state, tick)));
    }
  });

  it('stays readable JSON for a small rollout and is deflated for a large one', () => {
    const small = encodeRolloutState(start(fleet(10)).state);
    expect(JSON.parse(text(small))).toMatchObject({ format: 2, id: 'web-1', hosts: { count: 10, state: 'apppppppppp'.slice(0, 10) } });
    const large = encodeRolloutState(start(fleet(5000)).state);
    expect(text(large.subarray(0, DEFLATE_MARKER.length))).toBe(DEFLATE_MARKER);
  });

  it('reads a state written in the first format (a controller upgraded mid-rollout)', () => {
    const states = walk(fleet(60));
    const mid = states[3] as RolloutState;
    // What the previous controller wrote: the state's own JSON, without logDropped.
    const { logDropped, ...old } = plain(mid);
    expect(logDropped).toBe(0);
    const back = decodeRolloutState(new TextEncoder().encode(JSON.stringify(old)), 'rollout.web-1');
    expect(plain(back)).toStrictEqual(plain(mid));
    const tick = { kind: 'tick', nowMs: mid.updatedAtMs + 60_000 } as const;
    expect(plain(decide(back, tick))).toStrictEqual(plain(decide(mid, tick)));
    // The next write is in the current format.
    expect(JSON.parse(text(encodeRolloutState(back)))).toMatchObject({ format: 2 });
  });

  it('refuses a value it cannot read, naming the key', () => {
    const good = JSON.parse(text(encodeRolloutState(start(fleet(10)).state))) as { hosts: Record<string, unknown> };
    const bad = (doc: unknown) => new TextEncoder().encode(JSON.stringify(doc));
    const cases: [string, Uint8Array, RegExp][] = [
      ['not JSON', new TextEncoder().encode('{"format":2,'), /"rollout\.web-1" is not JSON/],
      ['a wrong shape', bad({ format: 2, id: 'web-1' }), /"rollout\.web-1" is malformed/],
      ['a newer format', bad({ ...good, format: 3 }), /format 3; this controller reads formats 1 and 2/],
      ['a host count the steps do not match', bad({ ...good, hosts: { ...good.hosts, count: 11 } }), /hosts\.count: 11 hosts, the steps name 10/],
      ['a short time column', bad({ ...good, hosts: { ...good.hosts, assignedAtMs: '0' } }), /hosts\.assignedAtMs/],
      ['an unknown host state', bad({ ...good, hosts: { ...good.hosts, state: 'xppppppppp' } }), /unknown letter "x"/],
      ['a report index out of range', bad({ ...good, hosts: { ...good.hosts, lastReport: '5,,,,,,,,,' } }), /hosts\.lastReport/],
      ['broken deflate', new Uint8Array([...new TextEncoder().encode(DEFLATE_MARKER), 1, 2, 3]), /not a readable rollout state/],
      ['deflated garbage', new Uint8Array([...new TextEncoder().encode(DEFLATE_MARKER), ...deflateRawSync('[]')]), /malformed/],
    ];
    for (const [what, bytes, message] of cases) {
      let caught: unknown;
      try {
        decodeRolloutState(bytes, 'rollout.web-1');
      } catch (err) {
        caught = err;
      }
      expect(caught, what).toBeInstanceOf(InternalError);
      expect((caught as Error).message, what).toMatch(message);
    }
  });

  // Builds and walks 125,000 hosts' states: seconds of CPU on a loaded machine, not a hang.
  it('fits one NATS message at 25,000 hosts through a whole rollout, and at 100,000 hosts with long names', () => {
    const sizes = walk(fleet(25_000)).map((s) => encodeRolloutState(s).length);
    expect(Math.max(...sizes)).toBeLessThan(STATE_VALUE_LIMIT / 4);
    const longNames = start(fleet(100_000, (i) => `web-prod-eu-west-1${'abc'[i % 3]}-${randomBytes(3).toString('hex')}${i.toString(36).padStart(4, '0')}`)).state;
    expect(encodeRolloutState(longNames).length).toBeLessThan(STATE_VALUE_LIMIT);
  }, 120_000);

  it('sheds the words it keeps per host when a state would not fit, and refuses one that still does not', () => {
    const base = start(fleet(2000)).state;
    // Every host reports an error of its own: text that does not compress.
    const hosts = base.hosts.map((h, i) => ({
      ...h,
      state: 'failed' as const,
      failedAtMs: T0 + i,
      failureReason: `health check failing on 2.0.0: ${randomBytes(60).toString('base64')}`,
      lastReport: { activeVersion: '2.0.0', processState: 'running' as const, health: 'unhealthy' as const, installPhase: 'done' as const, restarts: 0, error: randomBytes(90).toString('base64') },
    }));
    const state = stateOf(fieldsOf(base), HostTable.of(hosts));
    const full = encodeRolloutState(state, { limit: Infinity }).length;
    const shed = encodeRolloutState(state, { limit: Math.floor(full * 0.6) });
    expect(shed.length).toBeLessThan(full * 0.6);
    const back = decodeRolloutState(shed, 'rollout.web-1');
    const h = back.hosts[5] as HostProgress;
    expect(h.lastReport).toMatchObject({ health: 'unhealthy', error: null });
    expect(h.failureReason?.length).toBeLessThanOrEqual(120);
    expect(h.failureReason).toMatch(/^health check failing on 2\.0\.0: /);
    expect(h.state).toBe('failed');

    expect(() => encodeRolloutState(state, { limit: 1000 })).toThrow(ValidationError);
    expect(() => encodeRolloutState(state, { limit: 1000 })).toThrow(/rollout web-1 of 2000 hosts does not fit in one KV value: \d+ bytes encoded, the limit is 1000/);
  });
});
