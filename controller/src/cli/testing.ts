import type { ClientFactory, ConnectOptions, ControllerClient } from './client.js';
import type { CliContext } from './context.js';

/** A CliContext whose output is captured and whose clock only moves when the CLI sleeps. */
export interface CapturedContext {
  readonly ctx: CliContext;
  /** Everything written to standard output so far. */
  out(): string;
  /** Everything written to standard error so far. */
  err(): string;
  /** Every set of connect options a verb opened a client with. */
  readonly connections: ConnectOptions[];
  /** Total time the CLI asked to sleep. */
  slept(): number;
}

export interface CaptureOptions {
  /** @default a factory that fails the test: the verb should not have talked to a controller */
  connect?: ClientFactory;
  env?: Record<string, string | undefined>;
  /** @default false */
  isTTY?: boolean;
  /** Start of the fake clock. @default 1_700_000_000_000 */
  nowMs?: number;
  /** Run real timers in sleep (for a real server whose answers change over time). @default false */
  realSleep?: boolean;
}

/** For running verbs in-process in tests. */
export function captureContext(options: CaptureOptions = {}): CapturedContext {
  let out = '';
  let err = '';
  let now = options.nowMs ?? 1_700_000_000_000;
  let slept = 0;
  const connections: ConnectOptions[] = [];
  const connect: ClientFactory =
    options.connect ??
    (() => {
      throw new Error('this command should not have connected to a controller');
    });
  const ctx: CliContext = {
    out: { write: (s: string) => (out += s) },
    err: { write: (s: string) => (err += s) },
    env: options.env ?? {},
    isTTY: options.isTTY ?? false,
    now: () => now,
    sleep: async (ms) => {
      slept += ms;
      now += ms;
      if (options.realSleep) await new Promise((resolve) => setTimeout(resolve, ms));
    },
    connect: (o) => {
      connections.push(o);
      return connect(o);
    },
  };
  return { ctx, out: () => out, err: () => err, connections, slept: () => slept };
}

/** A ControllerClient whose every call fails unless the test provides it. */
export function fakeClient(calls: Partial<ControllerClient> = {}): ControllerClient {
  const unexpected = (name: string) => () => Promise.reject(new Error(`unexpected call ${name}`));
  return {
    address: 'fake:0',
    listArtifacts: unexpected('ListArtifacts'),
    listHosts: unexpected('ListHosts'),
    getStatus: unexpected('GetStatus'),
    deploy: unexpected('Deploy'),
    upload: unexpected('Upload'),
    close: () => {},
    ...calls,
  };
}
