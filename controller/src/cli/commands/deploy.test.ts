import { describe, expect, it } from 'vitest';
import type { AppStatus__Output, GetStatusResponse__Output, HostInfo__Output } from '@flotilla/proto';
import { UnavailableError } from '@flotilla/shared';
import { runCli } from '../program.js';
import { captureContext, fakeClient, testReport, testRollout, testRolloutHost } from '../testing.js';
import { classifyHost, classifyRolloutHost, evaluateRollout, progressLine } from './deploy.js';

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

describe('classifyRolloutHost', () => {
  it.each([
    ['passed', testRolloutHost('h', { state: 'passed' }), 'healthy'],
    ['failed', testRolloutHost('h', { state: 'failed', failure_reason: 'install failed' }), 'failed'],
    ['assigned, nothing reported yet', testRolloutHost('h'), 'pending'],
    ['assigned, downloading', testRolloutHost('h', { last_report: testReport({ active_version: '1.0', install_phase: 'downloading' }) }), 'installing'],
    ['assigned, starting', testRolloutHost('h', { last_report: testReport({ health: 'unknown' }) }), 'starting'],
    ['assigned, crash-looping', testRolloutHost('h', { last_report: testReport({ process_state: 'crash-loop' }) }), 'crashing'],
    ['assigned, down', testRolloutHost('h', { down: true, last_report: testReport({ active_version: '1.0' }) }), 'down'],
  ] as const)('%s -> %s', (_what, h, state) => {
    expect(classifyRolloutHost(h, '2.0')).toBe(state);
  });
});

describe('evaluateRollout and the progress line', () => {
  it('counts hosts by state; converged only when the rollout succeeded', () => {
    const hosts = [
      testRolloutHost('h1', { state: 'passed' }),
      testRolloutHost('h2', { state: 'passed' }),
      testRolloutHost('h3', { state: 'passed' }),
      testRolloutHost('h4', { last_report: testReport({ active_version: '1.0', install_phase: 'unpacking' }) }),
      testRolloutHost('h5', { state: 'failed', failure_reason: 'install of web@2.0 failed: no space left' }),
    ];
    const c = evaluateRollout(testRollout({ hosts }));
    expect(progressLine(c)).toBe('3/5 healthy, 1 installing, 1 failed');
    expect(c.converged).toBe(false);
    expect(c.ended).toBe(false);
    expect(c.failed.map((f) => f.hostId)).toEqual(['h5']);

    const done = evaluateRollout(testRollout({ status: 'succeeded', hosts: hosts.map((h) => ({ ...h, state: 'passed' })) }));
    expect(done.converged).toBe(true);
    expect(progressLine(done)).toBe('5/5 healthy');
  });
});

describe('flotilla deploy (in-memory controller)', () => {
  const deployOne = () => Promise.resolve({ assigned: [{ host_id: 'h1', seq: '7' }], rollout_id: 'web-1' });
  const polls = (answers: Parameters<typeof testRollout>[0][]) => {
    let poll = 0;
    return async () => ({ rollout: testRollout(answers[Math.min(poll++, answers.length - 1)]) });
  };

  it('on a terminal rewrites one progress line in place, then ends it', async () => {
    const getRollout = polls([
      { hosts: [testRolloutHost('h1', { last_report: testReport({ active_version: '1.0', install_phase: 'downloading' }) })] },
      { hosts: [testRolloutHost('h1', { last_report: testReport({ health: 'unknown' }) })] },
      { status: 'succeeded', hosts: [testRolloutHost('h1', { state: 'passed', last_report: testReport() })] },
    ]);
    const c = captureContext({ isTTY: true, env: { NO_COLOR: '1' }, connect: () => fakeClient({ deploy: deployOne, getRollout }) });
    expect(await runCli(['deploy', 'web@2.0'], c.ctx)).toBe(0);
    expect(c.out()).toBe(
      'assigned web@2.0 to 1 host: h1\n' +
        '\r\u001b[2K0/1 healthy, 1 installing (0ms)' +
        '\r\u001b[2K0/1 healthy, 1 starting (500ms)' +
        '\r\u001b[2K1/1 healthy (1.00s)\n' +
        'web@2.0 is running and healthy on 1/1 hosts (1.00s)\n',
    );
  });

  it('sends the wait timeout as the healthy deadline, and who asks', async () => {
    let sent: unknown;
    const c = captureContext({
      env: { USER: 'carol' },
      connect: () =>
        fakeClient({
          deploy: (req) => {
            sent = req;
            return deployOne();
          },
          getRollout: polls([{ status: 'succeeded', hosts: [testRolloutHost('h1', { state: 'passed' })] }]),
        }),
    });
    expect(await runCli(['deploy', 'web@2.0', '--wait-timeout', '90s'], c.ctx)).toBe(0);
    expect(sent).toEqual({ app: 'web', version: '2.0', selector: '', healthy_deadline: '90s', actor: 'carol', force: false });
  });

  it('keeps polling while the controller is briefly unreachable', async () => {
    let poll = 0;
    const c = captureContext({
      connect: () =>
        fakeClient({
          deploy: deployOne,
          getRollout: async () => {
            poll++;
            if (poll === 2) throw new UnavailableError('cannot reach the controller at fake:0: connect ECONNREFUSED');
            return { rollout: testRollout(poll < 3 ? {} : { status: 'succeeded', hosts: [testRolloutHost('h1', { state: 'passed' })] }) };
          },
        }),
    });
    expect(await runCli(['deploy', 'web@2.0'], c.ctx)).toBe(0);
    expect(c.err()).toBe('warning: cannot reach the controller at fake:0: connect ECONNREFUSED; still trying\n');
    expect(c.out()).toMatch(/is running and healthy on 1\/1 hosts/);
  });

  it('ends with exit 1 naming the host that failed and why, as soon as the rollout fails', async () => {
    const c = captureContext({
      connect: () =>
        fakeClient({
          deploy: deployOne,
          getRollout: polls([
            {},
            { status: 'failed', end_reason: '1 host(s) failed', hosts: [testRolloutHost('h1', { state: 'failed', failure_reason: 'crash-looping: 4 restart(s)' })] },
          ]),
        }),
    });
    expect(await runCli(['deploy', 'web@2.0'], c.ctx)).toBe(1);
    expect(c.err()).toBe('error: web@2.0 failed on host h1: crash-looping: 4 restart(s)\n');
  });

  it('gives up after the wait timeout without relying on the clock alone', async () => {
    const c = captureContext({
      connect: () =>
        fakeClient({ deploy: deployOne, getRollout: polls([{ hosts: [testRolloutHost('h1', { last_report: testReport({ health: 'unknown' }) })] }]) }),
    });
    expect(await runCli(['deploy', 'web@2.0', '--wait-timeout', '2s'], c.ctx)).toBe(1);
    expect(c.slept()).toBe(2000);
    expect(c.err()).toMatch(/^error: timed out after 2\.00s waiting for web@2\.0: 0\/1 hosts healthy; not there yet:\n/);
    expect(c.err()).toMatch(/\nh1\s+starting\s+up\s+2\.0\s+done\s+running\s+unknown\n/);
  });

  it('fails when no host is assigned', async () => {
    const c = captureContext({ connect: () => fakeClient({ deploy: async () => ({ assigned: [], rollout_id: '' }) }) });
    expect(await runCli(['deploy', 'web@2.0', '--selector', 'env=nowhere'], c.ctx)).toBe(1);
    expect(c.err()).toBe('error: no host matches selector "env=nowhere"; web@2.0 was not assigned anywhere\n');
  });
});
