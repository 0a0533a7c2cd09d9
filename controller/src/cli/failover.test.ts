import { describe, expect, it } from 'vitest';
import { ConflictError, UnavailableError } from '@flotilla/shared';
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
