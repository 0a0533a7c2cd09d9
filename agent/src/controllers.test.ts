import { describe, expect, it } from 'vitest';
import { NotFoundError, UnavailableError } from '@flotilla/shared';
import { ControllerList, downloadFromAny } from './controllers.js';

describe('downloadFromAny', () => {
  it('moves to the next controller when one cannot be reached, and starts there next time', async () => {
    const list = new ControllerList(['a:1', 'b:1', 'c:1']);
    const tried: string[] = [];
    const got = await downloadFromAny(list, async (address) => {
      tried.push(address);
      if (address !== 'b:1') throw new UnavailableError(`${address} is down`);
      return 'file';
    });
    expect(got).toBe('file');
    expect(tried).toEqual(['a:1', 'b:1']);
    expect(list.inTurn()).toEqual(['b:1', 'c:1', 'a:1']);
  });

  it('stops at an answer that is not "unreachable", and fails with the last error when none answers', async () => {
    const list = new ControllerList(['a:1', 'b:1']);
    const tried: string[] = [];
    await expect(
      downloadFromAny(list, async (address) => {
        tried.push(address);
        throw new NotFoundError('no such artifact');
      }),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect(tried).toEqual(['a:1']);
    await expect(downloadFromAny(list, async (address) => Promise.reject(new UnavailableError(`${address} down`)))).rejects.toThrow('b:1 down');
  });
});
