import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig } from '@flotilla/shared';
import { ALARMS_ENV, ALARM_DEFAULTS, alarmPolicyFor, alarmsConfigSchema, alertsConfigSchema } from './config.js';

/** The fragments merged the way the controller's schema will hold them. */
const schema = z.object({ alerts: alertsConfigSchema, alarms: alarmsConfigSchema }).strict();

function load(overrides: Record<string, unknown>, environment: Record<string, string> = {}) {
  return loadConfig({ program: 'flotilla-controller', schema, env: ALARMS_ENV, environment, overrides });
}

function problem(overrides: Record<string, unknown>): string {
  try {
    load(overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
}

describe('alerts and alarms config', () => {
  it('has documented defaults: webhooks off, health and crash-loop alarms on, resources off', () => {
    const c = load({});
    expect(c.alerts).toEqual({ appLabel: 'app', maxBodyBytes: 1024 * 1024, sources: [] });
    expect(c.alarms.defaults).toEqual(ALARM_DEFAULTS);
    expect(c.alarms.defaults).toEqual({
      quorum: { minHosts: 2, minShare: 0 },
      health: { enabled: true, failingShare: 0.5, forMs: 10_000 },
      crashLoop: { enabled: true, restarts: 3, windowMs: 300_000 },
      resources: { cpuPercent: null, memoryPercent: null, forMs: 120_000 },
      revertOutsideWatchWindow: false,
    });
    expect(c.alarms.apps).toEqual({});
  });

  it('takes the token and label from the environment', () => {
    const c = load({}, { FLOTILLA_ALERTS_TOKEN: 'a'.repeat(32), FLOTILLA_ALERTS_APP_LABEL: 'service', FLOTILLA_ALERTS_MAX_BODY_BYTES: '65536' });
    expect(c.alerts).toEqual({ token: 'a'.repeat(32), appLabel: 'service', maxBodyBytes: 65536, sources: [] });
  });

  it('layers app overrides over the defaults, durations as text', () => {
    const c = load({
      alarms: {
        defaults: { health: { for: '30s' }, crashLoop: { window: '10m' } },
        apps: {
          web: { quorum: { minShare: '30%' }, health: { failingShare: '20%' }, resources: { cpuPercent: 95, for: '90s' }, revertOutsideWatchWindow: true },
          batch: { crashLoop: { enabled: false } },
        },
      },
    });
    expect(alarmPolicyFor(c.alarms, 'web')).toEqual({
      quorum: { minHosts: 2, minShare: 0.3 },
      health: { enabled: true, failingShare: 0.2, forMs: 30_000 },
      crashLoop: { enabled: true, restarts: 3, windowMs: 600_000 },
      resources: { cpuPercent: 95, memoryPercent: null, forMs: 90_000 },
      revertOutsideWatchWindow: true,
    });
    expect(alarmPolicyFor(c.alarms, 'batch').crashLoop.enabled).toBe(false);
    expect(alarmPolicyFor(c.alarms, 'batch').health.forMs).toBe(30_000);
    expect(alarmPolicyFor(c.alarms, 'other')).toBe(c.alarms.defaults);
    expect(alarmPolicyFor(c.alarms, 'constructor')).toBe(c.alarms.defaults);
    expect(Object.isFrozen(c.alarms.apps.web?.health)).toBe(true);
  });

  it('refuses bad settings, naming them', () => {
    expect(problem({ alerts: { token: 'short' } })).toContain('alerts.token: must be at least 16 characters');
    expect(problem({ alerts: { appLabel: 'app-name' } })).toContain('alerts.appLabel: must be a Prometheus label name');
    expect(problem({ alerts: { maxBodyBytes: 10 } })).toContain('alerts.maxBodyBytes: must be at least 1024');
    expect(problem({ alerts: { tokn: 'x' } })).toContain('Unrecognized key: "tokn"');
    expect(problem({ alarms: { apps: { Web: {} } } })).toContain('alarms.apps.Web');
    expect(problem({ alarms: { defaults: { health: { failingShare: 1 } } } })).toContain('alarms.defaults.health.failingShare: must be a share');
    expect(problem({ alarms: { defaults: { health: { failingShare: '150%' } } } })).toContain('failingShare: must be a share');
    expect(problem({ alarms: { apps: { web: { resources: { cpuPercent: 150 } } } } })).toContain(
      'alarms.apps.web.resources.cpuPercent: must be at most 100',
    );
    expect(problem({ alarms: { defaults: { health: { for: 'soon' } } } })).toContain('is not a duration');
    expect(problem({ alarms: { defaults: { crashLoop: { window: '10ms' } } } })).toContain('must be at least 1s');
    expect(problem({ alarms: { defaults: { healt: {} } } })).toContain('Unrecognized key: "healt"');
  });
});
