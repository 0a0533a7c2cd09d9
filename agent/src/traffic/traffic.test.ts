import { describe, expect, it } from 'vitest';
import { BalancerError, createLogger } from '@flotilla/shared';
import type { TrafficSettings } from '../config.js';
import type { CommandRunner } from './nginx.js';
import type { SlotWeight } from './slots.js';
import { Traffic } from './traffic.js';

const log = createLogger({ name: 'test', level: 'silent' });
const w = (a: number): SlotWeight[] => [
  { slot: 'a', address: '127.0.0.1:8081', weight: a },
  { slot: 'b', address: '127.0.0.1:8082', weight: 100 - a },
];

function hooked(fail?: string): { traffic: Traffic; calls: string[] } {
  const calls: string[] = [];
  const run: CommandRunner = async (cmd, opts) => {
    calls.push(`${opts.env.FLOTILLA_TRAFFIC_HOOK} ${opts.env.FLOTILLA_SLOT} ${opts.env.FLOTILLA_SLOT_ADDRESS} ${opts.env.FLOTILLA_WEIGHT}`);
    const bad = cmd === fail;
    return { ok: !bad, code: bad ? 3 : 0, signal: null, timedOut: false, outputTail: bad ? 'lb said no\n' : '' };
  };
  const settings = settingsOf();
  return { traffic: new Traffic(settings, log, run), calls };
}

function settingsOf(): TrafficSettings {
  return {
    balancer: 'hooks',
    nginx: { includeDir: '/nonexistent', testCommand: 'x', reloadCommand: 'x', commandTimeoutMs: 1000 },
    stickiness: 'none',
    keepalive: 0,
    drainWaitMs: 0,
    hooks: { drain: 'drain', undrain: 'undrain', weight: 'weight', timeoutMs: 1000 },
  };
}

describe('Traffic with hooks', () => {
  it('is weighted when a weight hook exists', () => {
    expect(hooked().traffic.weighted).toBe(true);
  });

  it('brings a slot in before weights move and drains the other after, heavier side first', async () => {
    const { traffic, calls } = hooked();
    await traffic.shift('web', w(100), w(90));
    expect(calls).toEqual(['undrain b 127.0.0.1:8082 10', 'weight a 127.0.0.1:8081 90', 'weight b 127.0.0.1:8082 10']);
    calls.length = 0;
    await traffic.shift('web', w(90), w(0));
    expect(calls).toEqual(['weight b 127.0.0.1:8082 100', 'weight a 127.0.0.1:8081 0', 'drain a 127.0.0.1:8081 0']);
  });

  it('waits out a drain only when a drain hook took the process out', async () => {
    const { traffic, calls } = hooked();
    expect(await traffic.drain('web', { slot: '', address: '', weight: 100 })).toBe(true);
    expect(calls).toEqual(['drain   0']);
    const bare = new Traffic({ ...settingsOf(), hooks: { timeoutMs: 1000 } }, log);
    expect(await bare.drain('web', { slot: '', address: '', weight: 100 })).toBe(false);
  });

  it('fails with the hook output', async () => {
    const { traffic } = hooked('weight');
    const err = await traffic.shift('web', w(100), w(50)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BalancerError);
    expect((err as Error).message).toBe('weight hook for web slot a exited with code 3: lb said no');
  });
});
