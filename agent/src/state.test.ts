import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/shared';
import { EMPTY_STATE, STATE_FILE, StateKeeper, StateStore, sameProcess, type LocalState } from './state.js';

const logger = createLogger({ name: 'test', level: 'silent' });
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-agent-state-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sample: LocalState = {
  acceptedSeq: 7,
  assignment: { payload: '{"seq":7}', keyId: 'abcd', signature: 'sig' },
  apps: {
    web: { activeVersion: '1.2.0', previousVersion: '1.1.0', process: { pid: 4242, startTime: '123@boot' } },
    api: { activeVersion: null, previousVersion: null, process: null },
  },
};

describe('StateStore', () => {
  it('starts from the empty state when there is no file', async () => {
    expect(await new StateStore(dir, logger).load()).toEqual(EMPTY_STATE);
  });

  it('writes state.json and reads the same state back, leaving no temp files', async () => {
    const store = new StateStore(dir, logger);
    await store.save(sample);
    expect(await new StateStore(dir, logger).load()).toEqual(sample);
    expect(await readdir(dir)).toEqual([STATE_FILE]);
  });

  it('applies writes in the order they were made', async () => {
    const store = new StateStore(dir, logger);
    await Promise.all([1, 2, 3, 4, 5].map((seq) => store.save({ ...EMPTY_STATE, acceptedSeq: seq })));
    expect((await store.load()).acceptedSeq).toBe(5);
    expect(await readdir(dir)).toEqual([STATE_FILE]);
  });

  it('replaces the file whole: a reader sees the old or the new content', async () => {
    const store = new StateStore(dir, logger);
    await store.save(sample);
    const before = await readFile(join(dir, STATE_FILE), 'utf8');
    await store.save({ ...sample, acceptedSeq: 8 });
    const after = await readFile(join(dir, STATE_FILE), 'utf8');
    expect(JSON.parse(before).acceptedSeq).toBe(7);
    expect(JSON.parse(after).acceptedSeq).toBe(8);
  });

  it.each([
    ['not JSON', '{"acceptedSeq": 3, "assig'],
    ['the wrong shape', '{"acceptedSeq": -1, "assignment": null, "apps": {}}'],
    ['an invalid app name', '{"acceptedSeq": 1, "assignment": null, "apps": {"../x": {"activeVersion": null, "previousVersion": null, "process": null}}}'],
  ])('moves a file holding %s aside and starts from empty', async (_what, text) => {
    await writeFile(join(dir, STATE_FILE), text);
    const state = await new StateStore(dir, logger).load(1700000000000);
    expect(state).toEqual(EMPTY_STATE);
    const files = (await readdir(dir)).sort();
    expect(files).toEqual([`${STATE_FILE}.corrupt-1700000000000`]);
    expect(await readFile(join(dir, files[0] as string), 'utf8')).toBe(text);
  });
});

describe('StateKeeper', () => {
  it('applies changes in order, each to the state the previous one left, and persists them', async () => {
    const store = new StateStore(dir, logger);
    const keeper = new StateKeeper(store, EMPTY_STATE);
    const first = keeper.update((s) => ({ ...s, acceptedSeq: 3 }));
    const second = keeper.updateApp('web', (a) => ({ ...a, activeVersion: '2.0.0' }));
    await Promise.all([first, second]);
    expect(keeper.current.acceptedSeq).toBe(3);
    expect(keeper.current.apps.web).toEqual({ activeVersion: '2.0.0', previousVersion: null, process: null });
    expect(await store.load()).toEqual(keeper.current);
  });

  it('changes nothing in memory until the write reached the disk', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = new StateStore(dir, logger);
    const keeper = new StateKeeper({ save: async (s) => (await gate, real.save(s)) }, EMPTY_STATE);
    const pending = keeper.update((s) => ({ ...s, acceptedSeq: 4 }));
    await new Promise((r) => setTimeout(r, 20));
    expect(keeper.current.acceptedSeq).toBe(0);
    release();
    await pending;
    expect(keeper.current.acceptedSeq).toBe(4);
  });

  it('keeps the old state when a write fails (a full disk) and applies the next change to it', async () => {
    const real = new StateStore(dir, logger);
    let failures = 1;
    const store = {
      save: async (s: LocalState) => {
        if (failures-- > 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        await real.save(s);
      },
    };
    const keeper = new StateKeeper(store, sample);
    await expect(keeper.update((s) => ({ ...s, acceptedSeq: 8 }))).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(keeper.current).toBe(sample);
    await keeper.updateApp('api', (a) => ({ ...a, activeVersion: '1.0.0' }));
    expect(keeper.current.acceptedSeq).toBe(7);
    expect(await real.load()).toEqual(keeper.current);
  });
});

describe('sameProcess', () => {
  it('compares pid and start time', () => {
    expect(sameProcess(null, undefined)).toBe(true);
    expect(sameProcess({ pid: 1, startTime: 'a' }, { pid: 1, startTime: 'a' })).toBe(true);
    expect(sameProcess({ pid: 1, startTime: 'a' }, { pid: 1, startTime: 'b' })).toBe(false);
    expect(sameProcess({ pid: 1, startTime: 'a' }, null)).toBe(false);
  });
});
