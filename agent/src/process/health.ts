import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { expandEnv, type HealthCheckSpec, type HealthState } from '@flotilla/shared';
import type { AppUser } from './app-user.js';
import { describeCommand, runCommand } from './command.js';

export interface ProbeResult {
  ok: boolean;
  /** What was checked and what came back, for logs and the app's reported error. */
  detail: string;
}

export interface ProbeContext {
  /** Working directory of a command check. */
  cwd: string;
  /** The app's environment: expands `${VAR}` in URLs, hosts and ports; runs command checks. */
  env: Record<string, string>;
  signal?: AbortSignal;
  /** A command check runs as the app's user, like the app. @default the agent's own */
  user?: AppUser;
}

/** One health check attempt, bounded by the spec's timeout. Never throws. */
export async function probeHealth(spec: HealthCheckSpec, ctx: ProbeContext): Promise<ProbeResult> {
  try {
    if (spec.http !== undefined) return await probeHttp(spec.http, spec.timeout, ctx);
    if (spec.tcp !== undefined) return await probeTcp(spec.tcp, spec.timeout, ctx);
    if (spec.command !== undefined) {
      const r = await runCommand(spec.command, {
        cwd: ctx.cwd,
        env: ctx.env,
        timeoutMs: spec.timeout,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        ...(ctx.user ? { user: ctx.user } : {}),
      });
      if (r.ok) return { ok: true, detail: `${describeCommand(spec.command)} exited 0` };
      const why = r.timedOut
        ? `timed out after ${spec.timeout} ms`
        : r.code !== null
          ? `exited with code ${r.code}`
          : r.signal !== null
            ? `killed by ${r.signal}`
            : 'could not run';
      const lastLine = r.outputTail.trim().split('\n').pop() ?? '';
      return { ok: false, detail: `health command ${describeCommand(spec.command)} ${why}${lastLine ? `: ${lastLine}` : ''}` };
    }
    return { ok: false, detail: 'health check names no http, tcp or command check' };
  } catch (err) {
    return { ok: false, detail: `health check failed: ${(err as Error).message}` };
  }
}

function okStatus(status: number, expect: readonly number[] | undefined): boolean {
  return expect !== undefined && expect.length > 0 ? expect.includes(status) : status >= 200 && status <= 399;
}

function probeHttp(
  check: NonNullable<HealthCheckSpec['http']>,
  timeoutMs: number,
  ctx: ProbeContext,
): Promise<ProbeResult> {
  const url = expandEnv(check.url, ctx.env);
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ ok: false, detail: `health URL is not a valid URL after expansion: ${url}` });
  }
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(r);
    };
    const req = client.request(
      target,
      {
        method: 'GET',
        agent: false,
        headers: { 'user-agent': 'flotilla-agent health check', connection: 'close' },
        // The probe asks "is it up", not "is it who it claims to be": apps often serve a
        // self-signed certificate on loopback, as with Kubernetes' HTTPS probes.
        ...(client === https ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.on('error', () => undefined);
        res.resume();
        done(
          okStatus(status, check.expectStatus)
            ? { ok: true, detail: `GET ${url} answered ${status}` }
            : { ok: false, detail: `GET ${url} answered ${status}` },
        );
      },
    );
    const timer = setTimeout(
      () => done({ ok: false, detail: `GET ${url} timed out after ${timeoutMs} ms` }),
      Math.max(1, timeoutMs),
    );
    const onAbort = (): void => done({ ok: false, detail: `GET ${url} aborted` });
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => done({ ok: false, detail: `GET ${url} failed: ${err.message}` }));
    req.end();
  });
}

function probeTcp(
  check: NonNullable<HealthCheckSpec['tcp']>,
  timeoutMs: number,
  ctx: ProbeContext,
): Promise<ProbeResult> {
  const host = expandEnv(check.host, ctx.env);
  const portText = expandEnv(String(check.port), ctx.env);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return Promise.resolve({ ok: false, detail: `health check TCP port is not a valid port after expansion: ${portText}` });
  }
  const where = `${host}:${port}`;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(r);
    };
    const socket = net.connect({ host, port });
    const timer = setTimeout(
      () => done({ ok: false, detail: `connect ${where} timed out after ${timeoutMs} ms` }),
      Math.max(1, timeoutMs),
    );
    const onAbort = (): void => done({ ok: false, detail: `connect ${where} aborted` });
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done({ ok: true, detail: `connected to ${where}` }));
    socket.on('error', (err) => done({ ok: false, detail: `connect ${where} failed: ${err.message}` }));
  });
}

export interface HealthThresholds {
  /** Failures this soon after the process started do not count (until it was healthy once). */
  startPeriodMs: number;
  /** Consecutive counted failures that make the app unhealthy. */
  failureThreshold: number;
  /** Consecutive successes that make the app healthy. */
  successThreshold: number;
}

/**
 * Turns a stream of probe results into the app's health, pure so the thresholds are tested
 * without processes. The health stays 'unknown' until the first decision either way.
 */
export class HealthTracker {
  #state: HealthState = 'unknown';
  #successes = 0;
  #failures = 0;
  #everHealthy = false;

  constructor(
    private readonly thresholds: HealthThresholds,
    private readonly startedAtMs: number,
  ) {}

  get state(): HealthState {
    return this.#state;
  }

  /** Records one result; returns the new health when it changed, otherwise null. */
  record(ok: boolean, atMs: number): HealthState | null {
    if (ok) {
      this.#failures = 0;
      this.#successes++;
      if (this.#successes >= this.thresholds.successThreshold && this.#state !== 'healthy') {
        this.#everHealthy = true;
        return (this.#state = 'healthy');
      }
      return null;
    }
    this.#successes = 0;
    const inStartPeriod = !this.#everHealthy && atMs - this.startedAtMs < this.thresholds.startPeriodMs;
    if (inStartPeriod) return null;
    this.#failures++;
    if (this.#failures >= this.thresholds.failureThreshold && this.#state !== 'unhealthy') {
      return (this.#state = 'unhealthy');
    }
    return null;
  }
}

export interface HealthCheckerOptions {
  spec: HealthCheckSpec;
  /** Working directory of a command check. */
  cwd: string;
  env: Record<string, string>;
  /** A command check runs as this user. @default the agent's own */
  user?: AppUser;
  /** When the checked process started (ms since epoch); the start period counts from here. */
  startedAtMs: number;
  /** Called when the health changes, with the detail of the probe that decided it. */
  onChange: (health: HealthState, detail: string) => void;
  /** Called after every probe (logging at debug, tests). */
  onProbe?: (result: ProbeResult) => void;
  /** Delay of the first probe. @default the smaller of the interval and 500 ms */
  firstDelayMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Runs one app's health check on a single timer: the next probe is scheduled only after the
 * previous one finished, so a slow app never has checks piling up.
 */
export class HealthChecker {
  readonly #opts: HealthCheckerOptions;
  readonly #tracker: HealthTracker;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: AbortController | undefined;
  #running = false;

  constructor(opts: HealthCheckerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#tracker = new HealthTracker(
      {
        startPeriodMs: opts.spec.startPeriod,
        failureThreshold: opts.spec.failureThreshold,
        successThreshold: opts.spec.successThreshold,
      },
      opts.startedAtMs,
    );
  }

  get state(): HealthState {
    return this.#tracker.state;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(this.#opts.firstDelayMs ?? Math.min(this.#opts.spec.interval, 500));
  }

  /** No probe starts after this, a probe in flight is aborted, and onChange is not called again. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#inFlight?.abort();
    this.#inFlight = undefined;
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#probeOnce();
    }, delayMs);
    // Health checks alone must not keep the agent alive.
    this.#timer.unref();
  }

  async #probeOnce(): Promise<void> {
    const abort = new AbortController();
    this.#inFlight = abort;
    const result = await probeHealth(this.#opts.spec, {
      cwd: this.#opts.cwd,
      env: this.#opts.env,
      signal: abort.signal,
      ...(this.#opts.user ? { user: this.#opts.user } : {}),
    });
    if (!this.#running || abort.signal.aborted) return;
    this.#inFlight = undefined;
    this.#opts.onProbe?.(result);
    const changed = this.#tracker.record(result.ok, this.#now());
    if (changed !== null) this.#opts.onChange(changed, result.detail);
    this.#schedule(this.#opts.spec.interval);
  }
}
