import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SimFleet } from './fleet.js';
import type { SimFleetOptions } from './types.js';

/** The simulator's own program, run by SimFleetProcess. */
export const SIM_CHILD_MAIN = fileURLToPath(new URL('./child.js', import.meta.url));

/** SimFleetOptions as they cross a process boundary: keys as file paths. */
export interface RemoteSimOptions extends Omit<SimFleetOptions, 'controllerKeys'> {
  /** The controller's public key files: hosts verify assignments' signatures when given. */
  controllerKeyFiles?: string[];
}

/** The SimFleet methods a SimFleetProcess forwards. */
export type SimMethods = Pick<
  SimFleet,
  | 'addHosts'
  | 'silenceAfterNextBeat'
  | 'silence'
  | 'resume'
  | 'hostIds'
  | 'seen'
  | 'activation'
  | 'report'
  | 'activationsSince'
  | 'waitForActivations'
  | 'stats'
>;
export type SimMethod = keyof SimMethods;

export type SimRequest =
  | { id: number; kind: 'connect'; options: RemoteSimOptions; expectedHosts: number }
  | { id: number; kind: 'call'; method: SimMethod; args: unknown[] }
  | { id: number; kind: 'close' };

/** A request before its id is added. */
type SimRequestBody = SimRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

export type SimResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/**
 * A SimFleet in a process of its own, so that playing thousands of hosts neither slows the
 * caller (a benchmark polling the controller) nor hides in its CPU figures. Every method is
 * forwarded over IPC.
 */
export class SimFleetProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly exited: Promise<void>;
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: SimResponse) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    child.stderr?.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-8192);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        for (const p of this.pending.values()) p.reject(new Error(`the simulator exited (${signal ?? code}):\n${this.stderr}`));
        this.pending.clear();
        resolve();
      }),
    );
  }

  /** Starts the simulator process and opens its NATS connections. */
  static async start(options: RemoteSimOptions, expectedHosts = 0): Promise<SimFleetProcess> {
    const child = fork(SIM_CHILD_MAIN, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    const sim = new SimFleetProcess(child);
    try {
      await sim.send({ kind: 'connect', options, expectedHosts });
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return sim;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  call<K extends SimMethod>(method: K, ...args: Parameters<SimMethods[K]>): Promise<Awaited<ReturnType<SimMethods[K]>>> {
    return this.send({ kind: 'call', method, args }) as Promise<Awaited<ReturnType<SimMethods[K]>>>;
  }

  private send(request: SimRequestBody): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.child.connected) {
        reject(new Error(`the simulator is not running:\n${this.stderr}`));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...request, id } as SimRequest);
    });
  }

  /** Closes the fleet's connections and ends the process (killed after 5 s). */
  async close(): Promise<void> {
    if (this.child.connected) await this.send({ kind: 'close' }).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
