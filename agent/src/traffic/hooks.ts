import { BalancerError, type Logger } from '@flotilla/shared';
import type { TrafficSettings } from '../config.js';
import type { CommandRunner } from './nginx.js';
import { runCommand } from '../process/index.js';

export type HookKind = 'drain' | 'undrain' | 'weight';

/** What a hook is about: a slot (empty for an app without slots), its address (empty when unknown) and its weight. */
export interface HookTarget {
  readonly slot: string;
  readonly address: string;
  readonly weight: number;
}

/**
 * The operator's commands for a balancer Flotilla does not drive itself (HAProxy's runtime API, a
 * cloud load balancer's CLI, a service registry). Each learns what to do from its environment.
 */
export class BalancerHooks {
  constructor(
    private readonly settings: TrafficSettings['hooks'],
    private readonly log: Logger,
    private readonly run: CommandRunner = (cmd, opts) => runCommand(cmd, opts),
  ) {}

  has(kind: HookKind): boolean {
    return this.settings[kind] !== undefined;
  }

  /** Runs the `kind` hook for one slot; nothing when none is configured. Throws BalancerError when it fails. */
  async fire(kind: HookKind, app: string, slot: HookTarget): Promise<void> {
    const cmd = this.settings[kind];
    if (cmd === undefined) return;
    const r = await this.run(typeof cmd === 'string' ? cmd : [...cmd], {
      cwd: '/',
      env: {
        FLOTILLA_APP: app,
        FLOTILLA_SLOT: slot.slot,
        FLOTILLA_SLOT_ADDRESS: slot.address,
        FLOTILLA_WEIGHT: String(slot.weight),
        FLOTILLA_TRAFFIC_HOOK: kind,
      },
      timeoutMs: this.settings.timeoutMs,
    });
    if (r.ok) {
      this.log.info({ app, slot: slot.slot, hook: kind, weight: slot.weight }, 'balancer hook ran');
      return;
    }
    const tail = r.outputTail.trim().split('\n').pop() ?? '';
    const how = r.timedOut ? `timed out after ${this.settings.timeoutMs}ms` : r.code !== null ? `exited with code ${r.code}` : 'could not run';
    throw new BalancerError(`${kind} hook for ${app}${slot.slot ? ` slot ${slot.slot}` : ''} ${how}${tail ? `: ${tail}` : ''}`, {
      details: { app, slot: slot.slot, hook: kind, code: r.code, timedOut: r.timedOut },
    });
  }
}
