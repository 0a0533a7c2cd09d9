import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { deadlineMs } from '../deadline.js';

/** A JSON line a program logged; `atMs` is its `time` (ISO text in pino's output) in ms since the epoch. */
export type LogLine = Record<string, unknown> & { time?: string; msg?: string; atMs: number };

type Waiter = { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void };

/**
 * Reads a program's JSON log lines as they come, so that a benchmark can wait for one ("host
 * down", "artifact downloaded and verified") instead of polling the program, which would cost it
 * CPU inside the measurement.
 */
export class LogFollower {
  private readonly waiters = new Set<Waiter>();
  private readonly recent: LogLine[] = [];
  private text = '';

  constructor(
    private readonly what: string,
    ...streams: (Readable | null | undefined)[]
  ) {
    for (const stream of streams) if (stream) createInterface({ input: stream }).on('line', (line) => this.onLine(line));
  }

  private onLine(line: string): void {
    this.text = `${this.text}${line}\n`.slice(-16_384);
    if (!line.startsWith('{')) return;
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    parsed.atMs = typeof parsed.time === 'string' ? Date.parse(parsed.time) : typeof parsed.time === 'number' ? parsed.time : NaN;
    this.recent.push(parsed);
    if (this.recent.length > 2000) this.recent.splice(0, 1000);
    for (const w of this.waiters) {
      if (w.match(parsed)) {
        this.waiters.delete(w);
        w.resolve(parsed);
      }
    }
  }

  /** The first line from now on (or, with `includeRecent`, among the last ~1000) that matches; rejects after `timeoutMs` (scaled). */
  waitFor(match: (line: LogLine) => boolean, timeoutMs: number, { includeRecent = false } = {}): Promise<LogLine> {
    const limitMs = deadlineMs(timeoutMs);
    if (includeRecent) {
      const found = this.recent.find(match);
      if (found) return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.what} logged no matching line within ${limitMs} ms; its last lines:\n${this.tail()}`));
      }, limitMs);
      this.waiters.add(waiter);
    });
  }

  /** Recent lines that match. */
  find(match: (line: LogLine) => boolean): LogLine[] {
    return this.recent.filter(match);
  }

  /** The last lines, as text. */
  tail(lines = 30): string {
    return this.text.split('\n').slice(-lines - 1).join('\n');
  }
}
