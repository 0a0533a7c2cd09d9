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
 * gave is final. Clients are opened as they are needed.
 *
 * An upload whose controller cannot be reached or goes away mid-way is sent again, whole, to the
 * next: storing a release is idempotent (the same app, version and bytes answer "already
 * present"), and a controller records it only after every byte is in the object store, so an
 * upload cut off leaves no release behind, only an attempt another controller repeats.
 *
 * A watch opens on the first controller that answers. When the stream breaks after it answered,
 * the next controller becomes the preferred one and the break is thrown: the watcher (see
 * watchRollout in rollout-view.ts) watches again, and the new stream starts with the rollout as
 * it is now.
 */
export function failoverClient(
  addresses: readonly string[],
  options: ConnectOptions,
  open: (o: ConnectOptions) => ControllerClient,
  /** Told when an upload is sent again to another controller (the operator sees it take longer). */
  onUploadAgain: (failed: UnavailableError, next: string) => void = () => {},
): ControllerClient {
  const clients = new Map<string, ControllerClient>();
  let preferred = 0;
  const clientAt = (i: number): ControllerClient => {
    const address = addresses[i] as string;
    let c = clients.get(address);
    if (!c) clients.set(address, (c = open({ ...options, address })));
    return c;
  };
  const tryEach = async <R>(call: (c: ControllerClient) => Promise<R>, onNext?: (failed: UnavailableError, next: string) => void): Promise<R> => {
    let last: unknown;
    for (let k = 0; k < addresses.length; k++) {
      const i = (preferred + k) % addresses.length;
      if (last instanceof UnavailableError) onNext?.(last, addresses[i] as string);
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
    watchRollout: (request: Parameters<ControllerClient['watchRollout']>[0]) => ({
      async *[Symbol.asyncIterator]() {
        let last: unknown;
        for (let k = 0; k < addresses.length; k++) {
          const i = (preferred + k) % addresses.length;
          let answered = false;
          try {
            for await (const rollout of clientAt(i).watchRollout(request)) {
              answered = true;
              preferred = i;
              yield rollout;
            }
            return;
          } catch (err) {
            if (!(err instanceof UnavailableError)) throw err;
            if (answered) {
              preferred = (i + 1) % addresses.length;
              throw err;
            }
            last = err;
          }
        }
        throw last;
      },
    }),
    upload: (...args: Parameters<ControllerClient['upload']>) => tryEach((c) => c.upload(...args), onUploadAgain),
    close: () => {
      for (const c of clients.values()) c.close();
    },
  };
  for (const name of UNARY) {
    out[name] = (request: never) => tryEach((c) => (c[name] as (r: never) => Promise<unknown>)(request));
  }
  return out as unknown as ControllerClient;
}
