import { describe, expect, it } from 'vitest';
import { ASSIGNMENT_TYPE, decodeHeartbeat, encodeMessage, type Assignment, type Heartbeat } from '@flotilla/shared';
import { EMPTY_STATE, type LocalState } from './state.js';
import { MAX_REPORT_ERROR, ReportClock, appStatus, reportedApps } from './status.js';

const assignment: Assignment = {
  type: ASSIGNMENT_TYPE,
  hostId: 'h1',
  seq: 4,
  issuedAtMs: 0,
  apps: { web: { version: '2.0.0', release: { payload: '{}', keyId: 'k', signature: 's' } } },
};
const state: LocalState = {
  ...EMPTY_STATE,
  acceptedSeq: 4,
  apps: { web: { activeVersion: '1.0.0', previousVersion: null, process: null }, old: { activeVersion: '0.1.0', previousVersion: null, process: null } },
};

describe('appStatus', () => {
  it('reports an app being installed next to the one still running', () => {
    const report = appStatus({
      app: 'web',
      assignment,
      state,
      snapshot: { processState: 'running', pid: 321, restarts: 2, health: 'healthy', healthSinceMs: 50, error: null, startedAtMs: 10, lastExit: null },
      progress: { phase: 'downloading', version: '2.0.0', error: null, updatedAtMs: 60 },
      sinceMs: 1,
    });
    expect(report).toEqual({
      app: 'web',
      desiredVersion: '2.0.0',
      activeVersion: '1.0.0',
      processState: 'running',
      pid: 321,
      restarts: 2,
      health: 'healthy',
      healthSinceMs: 50,
      installPhase: 'downloading',
      installVersion: '2.0.0',
      error: null,
    });
  });

  it('reports the weight applied to an app served from two slots', () => {
    const beside: LocalState = {
      ...state,
      apps: { web: { activeVersion: '2.0.0', previousVersion: '1.0.0', process: null, traffic: { activeSlot: 'b', weight: 10, beside: { version: '1.0.0', process: null } } } },
    };
    const report = appStatus({ app: 'web', assignment, state: beside, snapshot: null, progress: undefined, sinceMs: 1 });
    expect(report.trafficWeight).toBe(10);
    expect(appStatus({ app: 'web', assignment, state, snapshot: null, progress: undefined, sinceMs: 1 })).not.toHaveProperty('trafficWeight');
  });

  it('reports an app nothing runs as stopped, and keeps long errors within the limit', () => {
    const report = appStatus({
      app: 'old',
      assignment,
      state,
      snapshot: null,
      progress: { phase: 'failed', version: '0.2.0', error: 'x'.repeat(10_000), updatedAtMs: 5 },
      sinceMs: 7,
    });
    expect(report).toMatchObject({ desiredVersion: null, activeVersion: '0.1.0', processState: 'stopped', pid: null, health: 'unknown', healthSinceMs: 7 });
    expect(report.error?.length).toBe(MAX_REPORT_ERROR);
  });

  it('builds heartbeats the controller accepts', () => {
    const clock = new ReportClock();
    const apps = reportedApps(assignment, state, ['extra']).map((app) =>
      clock.stamp(appStatus({ app, assignment, state, snapshot: null, progress: undefined, sinceMs: 1 }), 100),
    );
    const hb: Heartbeat = {
      type: 'heartbeat',
      hostId: 'h1',
      n: 1,
      bootId: 'b',
      sentAtMs: 100,
      heartbeatIntervalMs: 5000,
      acceptedSeq: 4,
      load: { cpuPercent: 1.5, memUsedBytes: 1, memTotalBytes: 2, diskFreeBytes: 3 },
      apps,
      labels: { env: 'prod' },
    };
    expect(decodeHeartbeat(encodeMessage(hb))).toEqual(hb);
    expect(apps.map((a) => a.app)).toEqual(['extra', 'old', 'web']);
  });
});

describe('ReportClock', () => {
  it('moves updatedAtMs only when the report changes', () => {
    const clock = new ReportClock();
    const base = appStatus({ app: 'web', assignment, state, snapshot: null, progress: undefined, sinceMs: 1 });
    expect(clock.stamp(base, 100).updatedAtMs).toBe(100);
    expect(clock.stamp(base, 200).updatedAtMs).toBe(100);
    expect(clock.stamp({ ...base, installPhase: 'verifying' }, 300).updatedAtMs).toBe(300);
  });
});
