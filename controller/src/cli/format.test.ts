import { describe, expect, it } from 'vitest';
import type { HostInfo__Output } from '@flotilla/proto';
import { hostsTable } from './commands/hosts.js';
import { formatAgo, formatBytes, formatLabels, formatList, formatUsage, renderTable, toNumber } from './format.js';

const NOW = 1_700_000_000_000;

describe('formatAgo', () => {
  it.each([
    [NOW - 3_000, '3s ago'],
    [NOW - 59_999, '59s ago'],
    [NOW - 5 * 60_000 - 10_000, '5m ago'],
    [NOW - 2 * 3_600_000, '2h ago'],
    [NOW - 4 * 86_400_000, '4d ago'],
    [NOW - 200, 'just now'],
    [NOW + 2_000, 'just now'],
    [0, 'never'],
  ])('%d -> %s', (then, text) => {
    expect(formatAgo(then, NOW)).toBe(text);
  });
});

describe('byte and list formatting', () => {
  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [1536, '1.5 KiB'],
    [20 * 1024 * 1024, '20 MiB'],
    [7.8 * 1024 ** 3, '7.8 GiB'],
  ])('formatBytes(%d) = %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  it('formatUsage puts used and total in the total’s unit', () => {
    expect(formatUsage(1.2 * 1024 ** 3, 7.8 * 1024 ** 3)).toBe('1.2/7.8 GiB');
    expect(formatUsage(300 * 1024 ** 2, 16 * 1024 ** 3)).toBe('0.3/16 GiB');
    expect(formatUsage(5, 0)).toBe('5 B');
  });

  it('formats labels sorted and lists with a count of the rest', () => {
    expect(formatLabels({ zone: 'a', env: 'prod' })).toBe('env=prod,zone=a');
    expect(formatLabels({})).toBe('-');
    expect(formatList(['a', 'b', 'c'], 2)).toBe('a, b and 1 more');
  });

  it('reads proto uint64 strings', () => {
    expect(toNumber('1700000000000')).toBe(1_700_000_000_000);
    expect(toNumber('')).toBe(0);
    expect(toNumber(undefined)).toBe(0);
  });
});

describe('renderTable', () => {
  it('prints aligned columns two spaces apart, without borders, trailing spaces or colour', () => {
    const text = renderTable(['HOST', 'STATE'], [['web-1', 'up'], ['db-10', 'down']], false);
    expect(text).toBe('HOST   STATE\nweb-1  up\ndb-10  down\n');
  });

  it('makes the header bold only when told to colour', () => {
    expect(renderTable(['A'], [['x']], true)).toContain('\u001b[1mA\u001b[22m');
    expect(renderTable(['A'], [['x']], false)).not.toContain('\u001b[');
  });
});

describe('hosts table', () => {
  const host = (over: Partial<HostInfo__Output>): HostInfo__Output => ({
    host_id: 'h1',
    labels: { env: 'prod' },
    state: 'up',
    first_seen_ms: String(NOW - 86_400_000),
    last_seen_ms: String(NOW - 3_000),
    inventory: null,
    load: { cpu_percent: 12.4, mem_used_bytes: String(1.2 * 1024 ** 3), mem_total_bytes: String(7.8 * 1024 ** 3), disk_free_bytes: String(40 * 1024 ** 3) },
    assignment_seq: '3',
    accepted_seq: '3',
    apps: [],
    heartbeat_interval_ms: '5000',
    key_epoch: 0,
    controller_key_epoch: 0,
    stale: false,
    trust_error: '',
    ...over,
  });
  const app = {
    app: 'web',
    desired_version: '1.4.2',
    active_version: '1.4.1',
    process_state: 'running',
    pid: 4242,
    restarts: 0,
    health: 'healthy',
    health_since_ms: '0',
    install_phase: 'downloading',
    install_version: '1.4.2',
    error: '',
    updated_at_ms: '0',
  };

  it('shows id, state, labels, apps with versions, load and last seen, sorted by host', () => {
    const text = hostsTable(
      [host({ host_id: 'h2', state: 'down', load: null, labels: {}, last_seen_ms: String(NOW - 65_000) }), host({ apps: [app] })],
      { now: () => NOW, isTTY: false, env: {} },
    );
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^HOST\s+STATE\s+LABELS\s+APPS\s+CPU\s+MEM\s+DISK FREE\s+LAST SEEN\s+KEY$/);
    expect(lines[1]).toMatch(/^h1\s+up\s+env=prod\s+web@1\.4\.1->1\.4\.2\s+12%\s+1\.2\/7\.8 GiB\s+40 GiB\s+3s ago\s+-$/);
    expect(lines[2]).toMatch(/^h2\s+down\s+-\s+-\s+-\s+-\s+-\s+1m ago\s+-$/);
  });

  it('marks stale and refusing hosts, shows a key epoch behind the controller, and prints the refusal', () => {
    const text = hostsTable(
      [
        host({ host_id: 'h1', key_epoch: 2, controller_key_epoch: 2 }),
        host({ host_id: 'h2', stale: true, key_epoch: 1, controller_key_epoch: 2, trust_error: 'assignment is signed by key abc, which is not trusted' }),
      ],
      { now: () => NOW, isTTY: false, env: {} },
    );
    const lines = text.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^h1\s+up\s.*\se2$/);
    expect(lines[2]).toMatch(/^h2\s+up,stale,refusing\s.*\se1<e2$/);
    expect(lines[3]).toBe('h2: refuses: assignment is signed by key abc, which is not trusted');
  });
});
