import type { Logger } from '@flotilla/shared';
import type { TrafficSettings } from '../config.js';
import { BalancerHooks, type HookTarget } from './hooks.js';
import { NginxUpstreams, type CommandRunner, type NginxSettings } from './nginx.js';
import type { SlotWeight } from './slots.js';

/** What activation needs of the host's balancer (Traffic; a fake in unit tests). */
export interface TrafficShifter {
  /** True when this host has a balancer that can hold two slots at once (nginx or a weight hook). */
  readonly weighted: boolean;
  /** How long in-flight requests get once a slot stopped receiving new ones. */
  readonly drainWaitMs: number;
  /**
   * Moves the app's traffic from `from` (null: not known) to `to`. Throws BalancerError when the
   * balancer refuses; nginx is then still on `from`.
   */
  shift(app: string, from: readonly SlotWeight[] | null, to: readonly SlotWeight[]): Promise<void>;
  /**
   * Takes a process out of the balancer (the drain hook), for hosts that stop before they start.
   * False when there is no drain hook: nothing was drained, so there is nothing to wait out.
   */
  drain(app: string, target: HookTarget): Promise<boolean>;
  /** Puts a process back (the undrain hook). */
  undrain(app: string, target: HookTarget): Promise<void>;
}

/** The host's balancer as the agent's config describes it: nginx, hooks, both, or neither. */
export class Traffic implements TrafficShifter {
  readonly #nginx: NginxUpstreams | null;
  readonly #hooks: BalancerHooks;

  constructor(
    private readonly settings: TrafficSettings & Pick<NginxSettings, 'apps'>,
    log: Logger,
    run?: CommandRunner,
  ) {
    const l = log.child({ component: 'traffic' });
    this.#nginx = settings.balancer === 'nginx' ? new NginxUpstreams(settings, l, run) : null;
    this.#hooks = new BalancerHooks(settings.hooks, l, run);
  }

  get weighted(): boolean {
    return this.#nginx !== null || (this.settings.balancer === 'hooks' && this.#hooks.has('weight'));
  }

  get drainWaitMs(): number {
    return this.settings.drainWaitMs;
  }

  async shift(app: string, from: readonly SlotWeight[] | null, to: readonly SlotWeight[]): Promise<void> {
    const before = (slot: SlotWeight): number => from?.find((f) => f.slot === slot.slot)?.weight ?? -1;
    const changed = to.filter((s) => before(s) !== s.weight);
    // A slot comes back before any weight moves and leaves after, and the heavier side is set
    // first, so capacity never dips while hooks change one slot at a time.
    for (const s of changed) if (s.weight > 0 && before(s) <= 0) await this.#hooks.fire('undrain', app, s);
    if (this.#nginx !== null) await this.#nginx.apply(app, to);
    for (const s of [...changed].sort((x, y) => y.weight - x.weight)) await this.#hooks.fire('weight', app, s);
    for (const s of changed) if (s.weight === 0) await this.#hooks.fire('drain', app, s);
  }

  async drain(app: string, target: HookTarget): Promise<boolean> {
    if (!this.#hooks.has('drain')) return false;
    await this.#hooks.fire('drain', app, { ...target, weight: 0 });
    return true;
  }

  undrain(app: string, target: HookTarget): Promise<void> {
    return this.#hooks.fire('undrain', app, target);
  }
}
