import { Agent, request } from 'node:http';
import { waitUntil } from './deadline.js';

/** What the load generator saw: answers by body, and every request that did not get a 200. */
export interface LoadCounts {
  /** Requests answered 200, by response body (the demo app answers its version). */
  readonly byBody: Readonly<Record<string, number>>;
  /** Requests that failed: a status other than 200, or no answer at all. */
  readonly failed: number;
  readonly total: number;
}

export interface FailedRequest {
  readonly atMs: number;
  /** The status and body, or the error's words. */
  readonly what: string;
}

/** One answer as it came, for a caller that wants more than counts (latency, when a version last answered). */
export interface LoadAnswer {
  /** Wall clock when the request was sent. */
  readonly sentAtMs: number;
  /** From sending the request to the end of its answer (or its failure). */
  readonly ms: number;
  readonly ok: boolean;
  /** The body of a 200, or what went wrong. */
  readonly what: string;
}

const TICK_MS = 10;

/**
 * Sends GETs to one URL at a steady rate and checks each answer, the way a user would watch a
 * release: every 200 is counted by its body, everything else is a failed request, kept with when
 * and what it was. In-flight requests are capped, so a stalled server slows the rate rather than
 * piling sockets up.
 */
export class LoadGenerator {
  readonly failures: FailedRequest[] = [];
  private readonly byBody: Record<string, number> = {};
  private total = 0;
  private inFlight = 0;
  private readonly pending = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  // One connection per request: a reload closes nginx's idle client connections, and a client
  // that reuses one at that instant sees a reset that says nothing about the release.
  private readonly agent = new Agent({ keepAlive: false });

  private constructor(
    private readonly url: string,
    ratePerSecond: number,
    private readonly maxInFlight: number,
    private readonly onAnswer: ((a: LoadAnswer) => void) | undefined,
  ) {
    let owed = 0;
    this.timer = setInterval(() => {
      owed += (ratePerSecond * TICK_MS) / 1000;
      for (; owed >= 1 && this.inFlight < this.maxInFlight; owed -= 1) this.send();
      owed = Math.min(owed, ratePerSecond);
    }, TICK_MS);
  }

  static start(
    url: string,
    { ratePerSecond = 300, maxInFlight = 32, onAnswer }: { ratePerSecond?: number; maxInFlight?: number; onAnswer?: (a: LoadAnswer) => void } = {},
  ): LoadGenerator {
    return new LoadGenerator(url, ratePerSecond, maxInFlight, onAnswer);
  }

  /** Everything so far. */
  counts(): LoadCounts {
    return { byBody: { ...this.byBody }, failed: this.failures.length, total: this.total };
  }

  /** What happened between two `counts()`. */
  static between(before: LoadCounts, after: LoadCounts): LoadCounts {
    const byBody: Record<string, number> = {};
    for (const [body, n] of Object.entries(after.byBody)) byBody[body] = n - (before.byBody[body] ?? 0);
    return { byBody, failed: after.failed - before.failed, total: after.total - before.total };
  }

  /** What the next `n` answers were, from now on; `timeoutMs` is a deadline for a hung server. */
  async next(n: number, timeoutMs = 30_000): Promise<LoadCounts> {
    const before = this.counts();
    return waitUntil(
      `${n} answers from ${this.url}`,
      () => {
        const window = LoadGenerator.between(before, this.counts());
        return window.total >= n ? window : undefined;
      },
      { timeoutMs, intervalMs: 50 },
    );
  }

  /** Stops sending and waits for the requests in flight. */
  async stop(): Promise<LoadCounts> {
    clearInterval(this.timer);
    await Promise.all([...this.pending]);
    this.agent.destroy();
    return this.counts();
  }

  private send(): void {
    this.inFlight += 1;
    const sentAtMs = Date.now();
    const started = performance.now();
    const done = new Promise<void>((resolve) => {
      let settled = false;
      const finish = (ok: boolean, what: string): void => {
        if (settled) return;
        settled = true;
        this.inFlight -= 1;
        this.total += 1;
        if (ok) this.byBody[what] = (this.byBody[what] ?? 0) + 1;
        else this.failures.push({ atMs: Date.now(), what });
        this.onAnswer?.({ sentAtMs, ms: performance.now() - started, ok, what });
        resolve();
      };
      const req = request(this.url, { agent: this.agent, timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => finish(res.statusCode === 200, res.statusCode === 200 ? body : `${res.statusCode} ${body.slice(0, 200)}`));
        res.on('error', (err) => finish(false, err.message));
      });
      req.on('timeout', () => req.destroy(new Error('no answer in 10s')));
      req.on('error', (err) => finish(false, err.message));
      req.end();
    });
    this.pending.add(done);
    void done.then(() => this.pending.delete(done));
  }
}
