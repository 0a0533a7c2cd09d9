import { describe, expect, it } from 'vitest';
import type { AppStatus__Output, GetStatusResponse__Output, HostInfo__Output } from '@flotilla/proto';
import { UnavailableError } from '@flotilla/shared';
import { runCli } from '../program.js';
import { captureContext, fakeClient } from '../testing.js';
import { classifyHost, evaluateConvergence, progressLine } from './deploy.js';

function appStatus(over: Partial<AppStatus__Output> = {}): AppStatus__Output {
  return {
    app: 'web',
    desired_version: '2.0',
    active_version: '2.0',
    process_state: 'running',
    pid: 100,
    restarts: 0,
    health: 'healthy',
    health_since_ms: '0',
    install_phase: 'done',
    install_version: '2.0',
    error: '',
    updated_at_ms: '0',
    ...over,
  };
}

function host(id: string, app: Partial<AppStatus__Output> | null, state = 'up'): HostInfo__Output {
  return {
    host_id: id,
    labels: {},
    state,
    first_seen_ms: '0',
    last_seen_ms: '0',
    inventory: null,
    load: null,
    assignment_seq: '1',
    accepted_seq: '1',
    apps: app ? [appStatus(app)] : [],
    heartbeat_interval_ms: '5000',
  };
}

describe('classifyHost', () => {
  it.each([
    ['healthy on the target', host('h', {}), 'healthy'],
    ['healthy with install idle', host('h', { install_phase: 'idle' }), 'healthy'],
    ['downloading the target', host('h', { active_version: '1.0', install_phase: 'downloading' }), 'installing'],
    ['target active, health unknown', host('h', { health: 'unknown' }), 'starting'],
    ['target active, unhealthy', host('h', { health: 'unhealthy' }), 'unhealthy'],
    ['target active, crash-looping', host('h', { process_state: 'crash-loop', health: 'unknown' }), 'crashing'],
    ['still on the old version', host('h', { active_version: '1.0', desired_version: '1.0', install_phase: 'idle', install_version: '' }), 'pending'],
    ['no status for the app yet', host('h', null), 'pending'],
    ['not reported at all', undefined, 'pending'],
    ['down', host('h', { active_version: '1.0', install_phase: 'idle' }, 'down'), 'down'],
    ['install of the target failed', host('h', { active_version: '1.0', install_phase: 'failed', error: 'sha256 mismatch' }), 'failed'],
    [
      'an older install failed, target not started yet',
      host('h', { active_version: '1.0', desired_version: '1.0', install_phase: 'failed', install_version: '1.1' }),
      'pending',
    ],
  ] as const)('%s -> %s', (_what, h, state) => {
    expect(classifyHost(h, 'web', '2.0')).toBe(state);
  });
});

describe('evaluateConvergence and the progress line', () => {
  const assigned = ['h1', 'h2', 'h3', 'h4', 'h5'].map((host_id) => ({ host_id, seq: '2' }));
  it('counts hosts by state and converges only when every assigned host is healthy', () => {
    const status: GetStatusResponse__Output = {
      apps: [],
      hosts: [
        host('h1', {}),
        host('h2', {}),
        host('h3', {}),
        host('h4', { active_version: '1.0', install_phase: 'unpacking' }),
        host('h5', { active_version: '1.0', install_phase: 'failed', error: 'no space left' }),
        host('other', { active_version: '9' }),
      ],
    };
    const c = evaluateConvergence(assigned, status, 'web', '2.0');
    expect(progressLine(c)).toBe('3/5 healthy, 1 installing, 1 failed');
    expect(c.converged).toBe(false);
    expect(c.failed.map((f) => f.hostId)).toEqual(['h5']);

    const done = evaluateConvergence(assigned, { apps: [], hosts: assigned.map((a) => host(a.host_id, {})) }, 'web', '2.0');
    expect(done.converged).toBe(true);
    expect(progressLine(done)).toBe('5/5 healthy');
  });
});

describe('flotilla deploy (in-memory controller)', () => {
  const deployOne = () => Promise.resolve({ assigned: [{ host_id: 'h1', seq: '7' }] });

  it('on a terminal rewrites one progress line in place, then ends it', async () => {
    const answers = [host('h1', { active_version: '1.0', install_phase: 'downloading' }), host('h1', { health: 'unknown' }), host('h1', {})];
    let poll = 0;
    const c = captureContext({
      isTTY: true,
      env: { NO_COLOR: '1' },
      connect: () => fakeClient({ deploy: deployOne, getStatus: async () => ({ apps: [], hosts: [answers[Math.min(poll++, 2)] as HostInfo__Output] }) }),
    });
    expect(await runCli(['deploy', 'web@2.0'], c.ctx)).toBe(0);
    expect(c.out()).toBe(
      'assigned web@2.0 to 1 host: h1\n' +
        '\r\u001b[2K0/1 healthy, 1 installing (0ms)' +
        '\r\u001b[2K0/1 healthy, 1 starting (500ms)' +
        '\r\u001b[2K1/1 healthy (1.00s)\n' +
        'web@2.0 is running and healthy on 1/1 hosts (1.00s)\n',
    );
  });

  it('keeps polling while the controller is briefly unreachable', async () => {
    let poll = 0;
    const c = captureContext({
      connect: () =>
        fakeClient({
          deploy: deployOne,
          getStatus: async () => {
            poll++;
            if (poll === 2) throw new UnavailableError('cannot reach the controller at fake:0: connect ECONNREFUSED');
            return { apps: [], hosts: [host('h1', poll < 3 ? { health: 'unknown' } : {})] };
          },
        }),
    });
    expect(await runCli(['deploy', 'web@2.0'], c.ctx)).toBe(0);
    expect(c.err()).toBe('warning: cannot reach the controller at fake:0: connect ECONNREFUSED; still trying\n');
    expect(c.out()).toMatch(/is running and healthy on 1\/1 hosts/);
  });

  it('gives up after the wait timeout without relying on the clock alone', async () => {
    const c = captureContext({
      connect: () => fakeClient({ deploy: deployOne, getStatus: async () => ({ apps: [], hosts: [host('h1', { health: 'unknown' })] }) }),
    });
    expect(await runCli(['deploy', 'web@2.0', '--wait-timeout', '2s'], c.ctx)).toBe(1);
    expect(c.slept()).toBe(2000);
    expect(c.err()).toMatch(/^error: timed out after 2\.00s waiting for web@2\.0: 0\/1 hosts healthy; not there yet:\n/);
    expect(c.err()).toMatch(/\nh1\s+starting\s+up\s+2\.0\s+done\s+running\s+unknown\n$/);
  });

  it('fails when no host is assigned', async () => {
    const c = captureContext({ connect: () => fakeClient({ deploy: async () => ({ assigned: [] }) }) });
    expect(await runCli(['deploy', 'web@2.0', '--selector', 'env=nowhere'], c.ctx)).toBe(1);
    expect(c.err()).toBe('error: no host matches selector "env=nowhere"; web@2.0 was not assigned anywhere\n');
  });
});
