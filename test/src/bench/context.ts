import { httpGetText, type HttpTarget } from '../controller-process.js';

/** What every figure gets from the runner. */
export interface BenchContext {
  /** A fresh directory for this run under the OS temp dir; removed at the end. */
  readonly dir: string;
  /** Small sizes and short windows: checks that the harness works, not how fast anything is. */
  readonly quick: boolean;
  /** TLS on, as shipped (the default); false with --plain, to measure what TLS costs. */
  readonly secure: boolean;
  /** Progress, to stderr. */
  log(message: string): void;
  /** Where profiles go when the runner was asked for them (--profile DIR); undefined otherwise. */
  readonly profileDir: string | undefined;
}

/** The value of an unlabelled Prometheus sample in the controller's /metrics, or NaN. */
export async function metricValue(httpAddress: HttpTarget, name: string): Promise<number> {
  const { body } = await httpGetText(httpAddress, '/metrics', 10_000);
  const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

/** The controller's /healthz host counts. */
export async function hostCounts(httpAddress: HttpTarget): Promise<{ up: number; down: number }> {
  const { body } = await httpGetText(httpAddress, '/healthz', 10_000);
  const parsed = JSON.parse(body) as { hosts?: { up?: number; down?: number } };
  return { up: parsed.hosts?.up ?? 0, down: parsed.hosts?.down ?? 0 };
}

/** The message of an error, first line only. */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] as string;
}
