import { describe, expect, it } from 'vitest';
import { alarmFromGenericAlert, parseGenericAlert } from './generic.js';

function refusal(value: unknown): string {
  try {
    parseGenericAlert(value);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the alert to be refused');
}

describe('generic alerts', () => {
  it('turns {app, reason} into an alarm from the webhook source', () => {
    const alarm = alarmFromGenericAlert(parseGenericAlert({ app: 'web', reason: '  error budget burning  ' }), 42);
    expect(alarm).toEqual({ app: 'web', source: 'webhook', reason: 'error budget burning', receivedAtMs: 42, summary: {} });
  });

  it('keeps severity and the caller source, under the webhook prefix', () => {
    const alarm = alarmFromGenericAlert(parseGenericAlert({ app: 'web', reason: 'p99 > 2s', severity: 'critical', source: 'grafana' }), 0);
    expect(alarm.source).toBe('webhook:grafana');
    expect(alarm.severity).toBe('critical');
    expect(alarm.summary).toEqual({ source: 'grafana', severity: 'critical' });
  });

  it('cannot pose as Alertmanager or a built-in alarm', () => {
    expect(alarmFromGenericAlert(parseGenericAlert({ app: 'web', reason: 'x', source: 'alertmanager' }), 0).source).toBe(
      'webhook:alertmanager',
    );
    expect(refusal({ app: 'web', reason: 'x', source: 'builtin:health' })).toContain('source: must be 1-64 letters');
  });

  it('refuses missing fields, wrong types and unknown fields, naming them', () => {
    expect(refusal({ reason: 'x' })).toContain('app: is required');
    expect(refusal({ app: 'web' })).toContain('reason: is required');
    expect(refusal({ app: 5, reason: 'x' })).toContain('app: Invalid input: expected string, received number');
    expect(refusal({ app: 'web', reason: ['x'] })).toContain('reason: Invalid input: expected string');
    expect(refusal({ app: 'web', reason: 'x', severity: 3 })).toContain('severity: Invalid input: expected string');
    expect(refusal({ app: 'web', reason: 'x', reasn: 'y' })).toContain('Unrecognized key: "reasn"');
    expect(refusal('web')).toContain('(body): Invalid input: expected object');
    expect(refusal(null)).toContain('(body): Invalid input: expected object');
  });

  it('bounds lengths and the app name alphabet', () => {
    expect(refusal({ app: 'Web', reason: 'x' })).toContain('app: must be an app name');
    expect(refusal({ app: 'a'.repeat(64), reason: 'x' })).toContain('app: must be an app name');
    expect(refusal({ app: 'web', reason: '   ' })).toContain('reason: must not be empty');
    expect(refusal({ app: 'web', reason: 'r'.repeat(513) })).toContain('reason: must be at most 512 characters');
    expect(refusal({ app: 'web', reason: 'two\nlines' })).toContain('reason: must not contain control characters');
    expect(refusal({ app: 'web', reason: 'x', severity: 's'.repeat(33) })).toContain('severity: must be 1-32');
    expect(refusal({ app: 'web', reason: 'x', source: '' })).toContain('source: must be 1-64');
    expect(parseGenericAlert({ app: 'web', reason: 'r'.repeat(512) }).reason).toHaveLength(512);
  });
});
