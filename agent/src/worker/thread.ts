import { Worker } from 'node:worker_threads';
import { InternalError, type Inventory, type Logger } from '@flotilla/shared';
import type { UnpackResult } from '../install/unpack.js';
import {
  deserializeError,
  type DownloadTask,
  type FromWorkThread,
  type ToWorkThread,
  type UnpackTask,
  type WorkTask,
  type WorkThreadData,
} from './protocol.js';

export interface WorkThreadOptions {
  /** How the thread logs (it builds its own root logger: loggers do not cross threads). */
  log: WorkThreadData['log'];
  logger: Logger;
  /** The thread ends after this long without work; the next task starts another. @default 2000 */
  idleMs?: number;
}

/** The work thread's young generation (V8's default is several times this). */
const YOUNG_GENERATION_MB = 4;

type Pending = {
  worker: Worker;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
};

/**
 * Runs the agent's occasional heavy work (downloads, unpacks, the inventory at start) in a worker
 * thread started on demand and ended once idle, so the agent's main thread (heartbeats, health
 * checks, supervision) neither pays for moving the bytes nor keeps what that needed loaded
 * (grpc-js, protobufjs, tar, systeminformation): its resident footprint stays that of an idle
 * agent.
 */
export class WorkThread {
  private worker: Worker | undefined;
  private readonly exits = new Map<Worker, Promise<void>>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly opts: WorkThreadOptions) {
    this.log = opts.logger.child({ component: 'work-thread' });
  }

  /** Whether the thread is running now (it ends once idle and starts again for the next task). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** downloadArtifact in the thread; resolves with the verified path in the cache. */
  download(options: DownloadTask, signal?: AbortSignal): Promise<string> {
    return this.run({ kind: 'download', options }, signal) as Promise<string>;
  }

  /** unpackRelease in the thread. */
  unpack(options: UnpackTask, signal?: AbortSignal): Promise<UnpackResult> {
    return this.run({ kind: 'unpack', options }, signal) as Promise<UnpackResult>;
  }

  /** collectInventory in the thread. */
  inventory(): Promise<Inventory> {
    return this.run({ kind: 'inventory' }, undefined) as Promise<Inventory>;
  }

  private run(task: WorkTask, signal: AbortSignal | undefined): Promise<unknown> {
    if (this.closed) return Promise.reject(new InternalError('the work thread is closed'));
    signal?.throwIfAborted();
    clearTimeout(this.idleTimer);
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.post(worker, { type: 'abort', id, reason: signal?.reason instanceof Error ? signal.reason.message : 'aborted' });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { worker, resolve, reject, signal, onAbort });
      this.post(worker, { type: 'run', id, task });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./main.js', import.meta.url), {
      workerData: { log: this.opts.log } satisfies WorkThreadData,
      // Its garbage is buffers passing through: a small young generation keeps the peak down.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    this.worker = worker;
    worker.on('message', (m: FromWorkThread) => this.settle(m));
    worker.on('error', (err) => this.log.error({ err }, 'work thread failed'));
    const exited = new Promise<void>((resolve) =>
      worker.once('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        this.exits.delete(worker);
        // Whatever was still running there is lost: its callers learn it now.
        for (const [id, p] of this.pending) {
          if (p.worker !== worker) continue;
          this.forget(id, p);
          p.reject(new InternalError(`the work thread ended (exit code ${code}) before the task finished`));
        }
        resolve();
      }),
    );
    this.exits.set(worker, exited);
    return worker;
  }

  private post(worker: Worker, message: ToWorkThread): void {
    try {
      worker.postMessage(message);
    } catch (err) {
      this.log.error({ err }, 'cannot reach the work thread');
    }
  }

  private settle(m: FromWorkThread): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.forget(m.id, p);
    if (m.type === 'done') p.resolve(m.result);
    else p.reject(deserializeError(m.error));
    if (this.pending.size === 0) this.scheduleIdleExit();
  }

  private forget(id: number, p: Pending): void {
    this.pending.delete(id);
    p.signal?.removeEventListener('abort', p.onAbort);
  }

  private scheduleIdleExit(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.stopThread(), this.opts.idleMs ?? 2000);
    this.idleTimer.unref();
  }

  /** Ends the thread once idle; the next task starts another. */
  private async stopThread(): Promise<void> {
    if (this.pending.size > 0) return;
    await this.end();
  }

  /** Ends the thread; tasks still running there are aborted. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    await this.end();
    await Promise.all(this.exits.values());
  }

  /** Asks the current thread to flush its logs and end, cut off after 2 s. */
  private async end(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    this.post(worker, { type: 'exit' });
    const timer = setTimeout(() => void worker.terminate(), 2000);
    await this.exits.get(worker);
    clearTimeout(timer);
  }
}
