import { UnavailableError } from '@flotilla/shared';
import type { ConnectOptions, ControllerClient } from './client.js';

/** Unary calls: those that may go to another controller when one cannot be reached. */
type UnaryName = Exclude<keyof ControllerClient, 'address' | 'watchRollout' | 'upload' | 'close'>;
const UNARY: readonly UnaryName[] = [
  'listArtifacts',
  'listHosts',
  'getStatus',
  'deploy',
  'startRollout',
  'getRollout',
  'listRollouts',
  'rolloutCommand',
  'getHistory',
  'rollback',
  'listEvents',
];

/**
 * A client over several controllers (any one takes any call; a follower hands writes to the
 * leader). A unary call that cannot reach a controller (no connection: the call never got there,
 * so sending it elsewhere cannot apply it twice) goes to the next one; any answer a controller
 * gave is final. Uploads and watches, which cannot be replayed, go to the controller that last
 * answered (the first one until then). Clients are opened as they are needed.
 */
export function failoverClient(addresses: readonly string[], options: ConnectOptions, open: (o: ConnectOptions) => ControllerClient): ControllerClient {
  const clients = new Map<string, ControllerClient>();
  let preferred = 0;
  const clientAt = (i: number): ControllerClient => {
    const address = addresses[i] as string;
    let c = clients.get(address);
    if (!c) clients.set(address, (c = open({ ...options, address })));
    return c;
  };
  const tryEach = async <R>(call: (c: ControllerClient) => Promise<R>): Promise<R> => {
    let last: unknown;
    for (let k = 0; k < addresses.length; k++) {
      const i = (preferred + k) % addresses.length;
      try {
        const result = await call(clientAt(i));
        preferred = i;
        return result;
      } catch (err) {
        if (!(err instanceof UnavailableError)) throw err;
        last = err;
      }
    }
    throw last;
  };
  const out: Record<string, unknown> = {
    get address() {
      return addresses[preferred];
    },
    watchRollout: (request: Parameters<ControllerClient['watchRollout']>[0]) => clientAt(preferred).watchRollout(request),
    upload: (...args: Parameters<ControllerClient['upload']>) => clientAt(preferred).upload(...args),
    close: () => {
      for (const c of clients.values()) c.close();
    },
  };
  for (const name of UNARY) {
    out[name] = (request: never) => tryEach((c) => (c[name] as (r: never) => Promise<unknown>)(request));
  }
  return out as unknown as ControllerClient;
}
