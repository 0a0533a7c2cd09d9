// The simulator's process (started by SimFleetProcess): one SimFleet, driven over IPC.
import { errorMessage, loadTrustedKeys } from '@flotilla/shared';
import { SimFleet } from './fleet.js';
import type { SimMethod, SimRequest, SimResponse } from './remote.js';

const FORWARDED: ReadonlySet<SimMethod> = new Set<SimMethod>([
  'addHosts',
  'silenceAfterNextBeat',
  'silence',
  'resume',
  'hostIds',
  'seen',
  'activation',
  'report',
  'activationsSince',
  'waitForActivations',
  'stats',
]);

let fleet: SimFleet | undefined;

function reply(response: SimResponse): void {
  if (process.connected) process.send?.(response);
}

async function handle(request: SimRequest): Promise<unknown> {
  switch (request.kind) {
    case 'connect': {
      if (fleet) throw new Error('the simulator is connected already');
      const { controllerKeyFiles, ...options } = request.options;
      fleet = await SimFleet.connect(
        { ...options, ...(controllerKeyFiles ? { controllerKeys: loadTrustedKeys(controllerKeyFiles) } : {}) },
        request.expectedHosts,
      );
      return null;
    }
    case 'call': {
      if (!fleet) throw new Error('the simulator is not connected');
      if (!FORWARDED.has(request.method)) throw new Error(`the simulator has no method ${request.method}`);
      const method = fleet[request.method] as (...args: unknown[]) => unknown;
      return await method.apply(fleet, request.args);
    }
    case 'close':
      await fleet?.close();
      fleet = undefined;
      setImmediate(() => process.exit(0));
      return null;
  }
}

process.on('message', (request: SimRequest) => {
  handle(request).then(
    (result) => reply({ id: request.id, ok: true, result: result === undefined ? null : result }),
    (err: unknown) => reply({ id: request.id, ok: false, error: errorMessage(err) }),
  );
});

// The caller went away: nobody will ever close us.
process.on('disconnect', () => {
  void (fleet?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
