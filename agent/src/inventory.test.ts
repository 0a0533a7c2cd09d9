import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLOTILLA_VERSION, createLogger } from '@flotilla/shared';
import { LoadSampler, basicInventory } from './host.js';
import { collectInventory } from './inventory.js';

describe('inventory', () => {
  it('describes the host', async () => {
    const inv = await collectInventory(createLogger({ name: 'test', level: 'silent' }));
    expect(inv.cpus).toBeGreaterThan(0);
    expect(inv.memTotalBytes).toBeGreaterThan(0);
    expect(inv.arch).not.toBe('');
    expect(inv.agentVersion).toBe(FLOTILLA_VERSION);
    expect(inv.os).not.toBe('');
    // The fuller inventory agrees with what the os module alone says.
    const basic = basicInventory();
    expect(inv.arch).toBe(basic.arch);
    expect(inv.kernel).toBe(basic.kernel);
  });

  it('samples live figures, free disk from the data dir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-inventory-'));
    try {
      const sampler = new LoadSampler(dir);
      for (let i = 0; i < 2; i++) {
        const load = await sampler.sample();
        expect(load.cpuPercent).toBeGreaterThanOrEqual(0);
        expect(load.cpuPercent).toBeLessThanOrEqual(100);
        expect(load.memUsedBytes).toBeLessThanOrEqual(load.memTotalBytes);
        expect(load.diskFreeBytes).toBeGreaterThan(0);
      }
      expect((await new LoadSampler(join(dir, 'missing')).sample()).diskFreeBytes).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
