import { parseAppVersion } from '@flotilla/shared';
import { makeRolloutSpec } from '../../engine/spec.js';
import type { CliContext } from '../context.js';
import { EXIT, runVerb } from '../errors.js';
import { paint, toJson, useColour } from '../format.js';
import { actorOf, resolveGlobals, withController, type RawGlobalOptions } from '../options.js';
import { phaseText, watchRollout } from './rollout-view.js';

export interface RolloutStartOptions extends RawGlobalOptions {
  /** `APP@VERSION`. */
  target: string;
  selector?: string | undefined;
  /** `N` or `P%`. @default 1 */
  canary?: string | undefined;
  /** `N` or `P%`. @default '25%' */
  batch?: string | undefined;
  /** Cumulative targets `1,10%,50%,100%`. */
  steps?: string | undefined;
  minHealthyTime?: string | undefined;
  healthyDeadline?: string | undefined;
  bake?: string | undefined;
  canaryBake?: string | undefined;
  maxFailures?: string | undefined;
  maxRestarts?: string | undefined;
  spreadBy?: string | undefined;
  /** Traffic steps for the canary's hosts, `5%,25%,50%,100%`. */
  traffic?: string | undefined;
  pauseAfterCanary?: boolean | undefined;
  stableAfter?: string | undefined;
  /** How long after the end alarms still revert it. @default '10m' */
  watchWindow?: string | undefined;
  /** Roll out a version marked bad all the same. */
  force?: boolean | undefined;
  /** Commander's `--no-auto-revert` sets false. @default true */
  autoRevert?: boolean | undefined;
  dryRun?: boolean | undefined;
  watch?: boolean | undefined;
}

/**
 * `flotilla rollout start APP@VERSION`: plans and starts a rollout (or only prints the plan with
 * --dry-run), then optionally follows it (--watch: exit 0 when it succeeds, 1 otherwise).
 */
export async function rolloutStart(opts: RolloutStartOptions, ctx: CliContext): Promise<number> {
  return runVerb(ctx, async () => {
    const globals = resolveGlobals(opts, ctx.env);
    const { app, version } = parseAppVersion(opts.target);
    const actor = actorOf(ctx.env);
    const restarts = opts.maxRestarts === undefined ? undefined : Number(opts.maxRestarts);
    // The same checks as the controller's, before anything is sent: a typo is a usage error.
    makeRolloutSpec({
      app,
      version,
      selector: opts.selector,
      canary: opts.canary,
      batch: opts.batch,
      steps: opts.steps,
      minHealthyTime: opts.minHealthyTime,
      healthyDeadline: opts.healthyDeadline,
      bake: opts.bake,
      canaryBake: opts.canaryBake,
      maxFailures: opts.maxFailures,
      crashLoopRestarts: restarts,
      spreadBy: opts.spreadBy,
      pauseAfterCanary: opts.pauseAfterCanary,
      stableAfter: opts.stableAfter,
      watchWindow: opts.watchWindow,
      autoRevert: opts.autoRevert !== false,
      createdBy: actor,
      ...(opts.traffic !== undefined ? { traffic: opts.traffic } : {}),
    });

    return withController(ctx, globals, async (client) => {
      const response = await client.startRollout({
        app,
        version,
        selector: opts.selector ?? '',
        canary: opts.canary ?? '',
        batch: opts.batch ?? '',
        steps: opts.steps ?? '',
        min_healthy_time: opts.minHealthyTime ?? '',
        healthy_deadline: opts.healthyDeadline ?? '',
        bake: opts.bake ?? '',
        canary_bake: opts.canaryBake ?? '',
        max_failures: opts.maxFailures ?? '',
        max_restarts: opts.maxRestarts ?? '',
        spread_by: opts.spreadBy ?? '',
        pause_after_canary: opts.pauseAfterCanary === true,
        stable_after: opts.stableAfter ?? '',
        no_auto_revert: opts.autoRevert === false,
        dry_run: opts.dryRun === true,
        actor,
        watch_window: opts.watchWindow ?? '',
        force: opts.force === true,
        traffic: opts.traffic ?? '',
      });
      const rollout = response.rollout;
      if (opts.dryRun || !rollout) {
        if (globals.json) ctx.out.write(toJson({ dry_run: true, plan: response.plan }));
        else ctx.out.write(`${response.plan}\n(dry run: nothing was changed)\n`);
        return EXIT.OK;
      }
      if (globals.json && !opts.watch) {
        ctx.out.write(toJson({ rollout, plan: response.plan }));
        return EXIT.OK;
      }
      const say = globals.json ? ctx.err : ctx.out;
      const colour = useColour(ctx);
      say.write(
        `started rollout ${paint(rollout.id, 'bold', colour)}: ${app}@${version}, ` +
          `${rollout.stable_version ? `reverts to ${rollout.stable_version} on failure` : 'first stable release: no revert on failure'} ` +
          `(${phaseText(rollout)})\n${response.plan}\n`,
      );
      if (!opts.watch) {
        say.write(`follow it with: flotilla rollout status ${rollout.id} --watch\n`);
        return EXIT.OK;
      }
      return watchRollout({ ctx, client, ref: { id: rollout.id }, json: globals.json });
    });
  });
}
