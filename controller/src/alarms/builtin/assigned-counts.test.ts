import { describe, expect, it } from 'vitest';
import { AssignedHostCounts } from './assigned-counts.js';

describe('AssignedHostCounts', () => {
  it('counts hosts per app and walks the hosts again only after its refresh time', () => {
    const apps = new Map<string, string[]>([
      ['h1', ['web', 'db']],
      ['h2', ['web']],
    ]);
    let walks = 0;
    let now = 0;
    const counts = new AssignedHostCounts(
      {
        hostIds: () => {
          walks++;
          return apps.keys();
        },
        appsOf: (h) => apps.get(h) ?? [],
      },
      () => now,
      5_000,
    );
    expect([counts.hostsAssigned('web'), counts.hostsAssigned('db'), counts.hostsAssigned('other')]).toEqual([2, 1, 0]);
    apps.set('h3', ['web']);
    now = 4_999;
    expect(counts.hostsAssigned('web')).toBe(2);
    expect(walks).toBe(1);
    now = 5_000;
    expect(counts.hostsAssigned('web')).toBe(3);
    expect(walks).toBe(2);
  });
});
