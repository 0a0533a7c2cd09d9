import { get } from 'node:http';
import { Metadata, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import type { ControlClient } from '@flotilla/proto';

/** What every figure gets from the runner. */
export interface BenchContext {
  /** A fresh directory for this run under the OS temp dir; removed at the end. */
  readonly dir: string;
  /** Small sizes and short windows: checks that the harness works, not how fast anything is. */
  readonly quick: boolean;
  /** Progress, to stderr. */
  log(message: string): void;
  /** Where profiles go when the runner was asked for them (--profile DIR); undefined otherwise. */
  readonly profileDir: string | undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Polls `check` every `intervalMs` until it returns something other than undefined/false; throws after `timeoutMs`. */
export async function pollUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/** GET http://ADDRESS/PATH as text (loopback only). */
export function httpText(address: string, path: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(`http://${address}${path}`, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** The value of an unlabelled Prometheus sample in the controller's /metrics, or NaN. */
export async function metricValue(httpAddress: string, name: string): Promise<number> {
  const { body } = await httpText(httpAddress, '/metrics');
  const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

/** The controller's /healthz host counts. */
export async function hostCounts(httpAddress: string): Promise<{ up: number; down: number }> {
  const { body } = await httpText(httpAddress, '/healthz');
  const parsed = JSON.parse(body) as { hosts?: { up?: number; down?: number } };
  return { up: parsed.hosts?.up ?? 0, down: parsed.hosts?.down ?? 0 };
}

type UnaryMethod = (r: unknown, m: Metadata, o: CallOptions, cb: (err: ServiceError | null, res?: unknown) => void) => void;

/**
 * Calls a unary Control method with a deadline of `timeoutMs` (the test helper's 15 s is too
 * short for a controller a benchmark has pushed past what it can carry).
 */
export function controlCall<Res>(client: ControlClient, method: keyof ControlClient & string, request: object, timeoutMs = 60_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client[method] as unknown as UnaryMethod).bind(client);
    fn(request, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

/** The message of an error, first line only. */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] as string;
}
