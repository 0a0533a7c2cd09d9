import { describe, expect, it } from 'vitest';
import type { AppStatusReport } from '@flotilla/shared';
import { reportKey } from './live-rollout.js';

const report = (over: Partial<AppStatusReport> = {}): AppStatusReport => ({
  app: 'web',
  desiredVersion: '2.0.0',
  activeVersion: '2.0.0',
  processState: 'running',
  pid: 4242,
  restarts: 0,
  health: 'healthy',
  healthSinceMs: 1_000,
  installPhase: 'done',
  installVersion: '2.0.0',
  error: null,
  updatedAtMs: 2_000,
  trafficWeight: 10,
  ...over,
});

describe('reportKey', () => {
  it('changes when only the applied traffic weight changes, so the engine sees a canary reach its step', () => {
    expect(reportKey(report({ trafficWeight: 50 }))).not.toBe(reportKey(report({ trafficWeight: 10 })));
  });

  it('ignores what the engine does not judge by (pid, timestamps)', () => {
    expect(reportKey(report({ pid: 1, updatedAtMs: 9_000, healthSinceMs: 8_000 }))).toBe(reportKey(report()));
  });
});
