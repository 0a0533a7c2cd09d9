import { describe, expect, it } from 'vitest';
import { ConflictError, UnavailableError } from '@flotilla/shared';
import type { Rollout__Output } from '@flotilla/proto';
import type { ConnectOptions, ControllerClient } from './client.js';
import { failoverClient } from './failover.js';

/** Clients whose getStatus/deploy answer per address: 'down' cannot be reached, 'conflict' refuses. */
function fakes(behaviour: Record<string, 'down' | 'ok' | 'conflict'>) {
  const calls: string[] = [];
  const open = (o: ConnectOptions): ControllerClient => {
    const answer = async (method: string) => {
      calls.push(`${method}@${o.address}`);
      const b = behaviour[o.address];
      if (b === 'down') throw new UnavailableError(`cannot reach the controller at ${o.address}: connect ECONNREFUSED`);
      if (b === 'conflict') throw new ConflictError('already running');
      return { from: o.address };
    };
    return { address: o.address, getStatus: () => answer('getStatus'), deploy: () => answer('deploy'), close: () => undefined } as unknown as ControllerClient;
  };
  return { calls, open };
}

const options: ConnectOptions = { address: 'a:1', timeoutMs: 1000 };

describe('failoverClient', () => {
  it('sends a call to the next controller when one cannot be reached, and keeps to the one that answered', async () => {
    const { calls, open } = fakes({ 'a:1': 'down', 'b:1': 'ok' });
    const client = failoverClient(['a:1', 'b:1'], options, open);
    expect(await client.getStatus({})).toEqual({ from: 'b:1' });
    expect(await client.deploy({})).toEqual({ from: 'b:1' });
    expect(calls).toEqual(['getStatus@a:1', 'getStatus@b:1', 'deploy@b:1']);
    expect(client.address).toBe('b:1');
  });

  it("takes a controller's refusal as the answer, and fails with the last error when none can be reached", async () => {
    const refused = fakes({ 'a:1': 'conflict', 'b:1': 'ok' });
    await expect(failoverClient(['a:1', 'b:1'], options, refused.open).deploy({})).rejects.toBeInstanceOf(ConflictError);
    expect(refused.calls).toEqual(['deploy@a:1']);
    const down = fakes({ 'a:1': 'down', 'b:1': 'down' });
    await expect(failoverClient(['a:1', 'b:1'], options, down.open).getStatus({})).rejects.toThrow(/b:1/);
  });
});

describe('failoverClient uploads and watches', () => {
  const rollout = (id: string, status: string) => ({ id, status }) as unknown as Rollout__Output;

  it('sends an upload cut off mid-way again, whole, to the next controller', async () => {
    const sent: string[] = [];
    const open = (o: ConnectOptions): ControllerClient =>
      ({
        address: o.address,
        upload: async (_header: unknown, chunks: () => AsyncIterable<Buffer>) => {
          const got: string[] = [];
          for await (const c of chunks()) {
            got.push(c.toString());
            // The first controller dies after taking one chunk.
            if (o.address === 'a:1') throw new UnavailableError('cannot reach the controller at a:1: Connection dropped');
          }
          sent.push(`${o.address}:${got.join('')}`);
          return { from: o.address };
        },
        close: () => undefined,
      }) as unknown as ControllerClient;
    const notes: string[] = [];
    const client = failoverClient(['a:1', 'b:1'], options, open, (err, next) => notes.push(`${err.message} -> ${next}`));
    const chunks = async function* () {
      yield Buffer.from('ab');
      yield Buffer.from('cd');
    };
    expect(await client.upload({}, chunks)).toEqual({ from: 'b:1' });
    expect(sent).toEqual(['b:1:abcd']);
    expect(notes).toEqual(['cannot reach the controller at a:1: Connection dropped -> b:1']);
  });

  it('throws a broken watch after moving on to the next controller, and opens the next watch there', async () => {
    const opened: string[] = [];
    const open = (o: ConnectOptions): ControllerClient =>
      ({
        address: o.address,
        watchRollout: () => ({
          async *[Symbol.asyncIterator]() {
            opened.push(o.address);
            if (o.address === 'a:1') {
              yield rollout('r1', 'running');
              throw new UnavailableError('cannot reach the controller at a:1: Connection dropped');
            }
            if (o.address === 'b:1') throw new UnavailableError('cannot reach the controller at b:1: connect ECONNREFUSED');
            yield rollout('r1', 'succeeded');
          },
        }),
        close: () => undefined,
      }) as unknown as ControllerClient;
    const client = failoverClient(['a:1', 'b:1', 'c:1'], options, open);
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const r of client.watchRollout({ id: 'r1' })) seen.push(r.status);
      })(),
    ).rejects.toBeInstanceOf(UnavailableError);
    for await (const r of client.watchRollout({ id: 'r1' })) seen.push(r.status);
    expect(seen).toEqual(['running', 'succeeded']);
    // b:1 could not be reached at all, so the second watch went on to c:1 without a break.
    expect(opened).toEqual(['a:1', 'b:1', 'c:1']);
    expect(client.address).toBe('c:1');
  });
});
