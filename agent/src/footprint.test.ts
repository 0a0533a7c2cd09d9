import { describe, expect, it } from 'vitest';
import { applyFootprintFlags, FOOTPRINT_V8_FLAGS } from './footprint.js';

describe('the agent program\'s V8 settings', () => {
  it('sets each flag, and only flags V8 reads when it decides, never heap or thread layout', () => {
    const set: string[] = [];
    expect(applyFootprintFlags({}, (f) => set.push(f))).toEqual(FOOTPRINT_V8_FLAGS);
    expect(set).toEqual(['--semi-space-growth-factor=1', '--no-opt', '--no-maglev']);
    // Changing these after start-up crashes V8 or does nothing: they must never be added here.
    for (const f of set) expect(f).not.toMatch(/max-semi-space|max-old-space|single-threaded|v8-pool|lite-mode|jitless/);
  });

  it('leaves V8 as it is with FLOTILLA_AGENT_V8_DEFAULTS=1', () => {
    const set: string[] = [];
    expect(applyFootprintFlags({ FLOTILLA_AGENT_V8_DEFAULTS: '1' }, (f) => set.push(f))).toEqual([]);
    expect(set).toEqual([]);
  });
});
