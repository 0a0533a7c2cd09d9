import { UnavailableError } from '@flotilla/shared';

/**
 * The controllers an agent downloads from, and which one answered last. Every controller serves
 * every release (each fills its cache from the cluster's object store), so any will do.
 */
export class ControllerList {
  private preferred = 0;

  constructor(readonly addresses: readonly string[]) {
    if (addresses.length === 0) throw new Error('ControllerList needs at least one address');
  }

  /** Every address once, starting with the one that last answered. */
  inTurn(): string[] {
    const n = this.addresses.length;
    return Array.from({ length: n }, (_, i) => this.addresses[(this.preferred + i) % n] as string);
  }

  answered(address: string): void {
    const i = this.addresses.indexOf(address);
    if (i >= 0) this.preferred = i;
  }
}

/**
 * Runs `attempt` against each controller in turn until one succeeds. Only "cannot reach it"
 * (UnavailableError) moves on: the partial file stays in the cache, so the next controller
 * resumes from its offset. Any other failure (a bad hash, an unknown artifact) is the answer.
 */
export async function downloadFromAny<T>(controllers: ControllerList, attempt: (address: string) => Promise<T>): Promise<T> {
  let last: unknown;
  for (const address of controllers.inTurn()) {
    try {
      const result = await attempt(address);
      controllers.answered(address);
      return result;
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      last = err;
    }
  }
  throw last;
}

function isUnreachable(err: unknown): boolean {
  if (err instanceof UnavailableError) return true;
  // Errors that crossed the worker thread arrive as plain objects with the error code.
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'FLOTILLA_ERR_UNAVAILABLE';
}
