import { ConflictError, NotFoundError, assertAppName, CONFLICT_KIND, type Logger } from '@flotilla/shared';
import type { ArtifactStore, RemovedArtifact } from '../artifacts.js';
import type { ArtifactRecord } from '../store/records.js';
import type { RetentionFacts } from './facts.js';
import { planRetention, protectionsOf, type RetentionPlan } from './policy.js';

/** The artifact store's calls retention makes. */
export type RetainedArtifacts = Pick<ArtifactStore, 'list' | 'get' | 'remove'>;

export interface ArtifactGcOptions {
  artifacts: RetainedArtifacts;
  facts: RetentionFacts;
  /** Unprotected versions kept per app, newest first. */
  keepVersions: number;
  /** Between periodic collections; 0: none (only on request). */
  intervalMs: number;
  /**
   * Whether this controller runs the periodic collection now: the leader does, whose view of
   * rollouts and assignments the protections come from. @default always
   */
  leads?: () => boolean;
  logger: Logger;
}

/** What one collection found, per app. */
export interface GcOutcome {
  dryRun: boolean;
  plans: RetentionPlan[];
  /** Empty on a dry run. */
  removed: RemovedArtifact[];
  /** Bytes freed on disk (a dry run: that would be); a file another version keeps is not counted. */
  freedBytes: number;
}

/**
 * Artifact retention: deletes the versions of each app that are neither protected (see
 * RetentionFacts) nor among the newest `keepVersions`, periodically and on request, and removes
 * single versions on request with the same protection. Each app is collected under its app lock,
 * and protection is worked out again inside it, so a rollout that starts meanwhile either sees
 * the version gone (NotFound) or protects it before it is deleted.
 */
export class ArtifactGc {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private readonly logger: Logger;

  constructor(private readonly opts: ArtifactGcOptions) {
    this.logger = opts.logger;
  }

  /** Starts the periodic collection (nothing when the interval is 0). */
  start(): void {
    if (this.opts.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.opts.leads && !this.opts.leads()) return;
      this.collect({ dryRun: false }).catch((err: unknown) => this.logger.warn({ err }, 'periodic artifact collection failed'));
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stops the periodic collection and waits for one in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running.catch(() => undefined);
  }

  /** Collects every app (or one): a dry run only plans. */
  collect(opts: { dryRun: boolean; app?: string }): Promise<GcOutcome> {
    return this.serial(async () => {
      const app = opts.app === undefined ? undefined : assertAppName(opts.app);
      const all = await this.opts.artifacts.list(app);
      const apps = [...new Set(all.map((a) => a.app))].sort();
      if (app !== undefined && apps.length === 0) throw new NotFoundError(`app "${app}" has no artifacts`);
      const outcome: GcOutcome = { dryRun: opts.dryRun, plans: [], removed: [], freedBytes: 0 };
      for (const name of apps) {
        await this.opts.facts.exclusive(name, async () => {
          const plan = await this.plan(name);
          outcome.plans.push(plan);
          if (opts.dryRun) return;
          for (const record of plan.remove) {
            const removed = await this.opts.artifacts.remove(record.app, record.version);
            if (removed) outcome.removed.push(removed);
          }
        });
      }
      if (opts.dryRun) {
        const going = outcome.plans.flatMap((p) => p.remove);
        const goingKeys = new Set(going.map((a) => `${a.app}@${a.version}`));
        const staying = new Set((await this.opts.artifacts.list()).filter((a) => !goingKeys.has(`${a.app}@${a.version}`)).map((a) => a.sha256));
        const freed = new Map(going.filter((a) => !staying.has(a.sha256)).map((a) => [a.sha256, a.size]));
        outcome.freedBytes = [...freed.values()].reduce((n, size) => n + size, 0);
      } else {
        outcome.freedBytes = outcome.removed.filter((r) => r.bytesRemoved).reduce((n, r) => n + r.record.size, 0);
        if (outcome.removed.length > 0) {
          this.logger.info({ removed: outcome.removed.length, bytes: outcome.freedBytes, app }, 'artifact collection removed versions');
        }
      }
      return outcome;
    });
  }

  /**
   * Removes one version. A protected version is refused whatever `force` says (the message
   * names each reason); one kept only as among the newest `keepVersions` needs `force`.
   */
  remove(appName: string, version: string, force: boolean): Promise<RemovedArtifact> {
    return this.serial(async () => {
      const app = assertAppName(appName);
      return this.opts.facts.exclusive(app, async () => {
        const record = await this.opts.artifacts.get(app, version);
        if (!record) throw await this.notFound(app, version);
        const plan = await this.plan(app);
        const kept = plan.keep.find((k) => k.record.version === version);
        if (kept && kept.protectedBy.length > 0) {
          throw new ConflictError(`${app}@${version} is protected and cannot be removed: it is ${kept.protectedBy.join('; ')}`, {
            details: { kind: CONFLICT_KIND.state, app, version, protectedBy: [...kept.protectedBy] },
          });
        }
        if (kept && !force) {
          throw new ConflictError(
            `${app}@${version} is one of the newest ${this.opts.keepVersions} versions of ${app} that retention keeps (artifacts.keepVersions); pass --force to remove it all the same`,
            { details: { kind: CONFLICT_KIND.state, app, version } },
          );
        }
        const removed = await this.opts.artifacts.remove(app, version);
        if (!removed) throw await this.notFound(app, version);
        return removed;
      });
    });
  }

  private async plan(app: string): Promise<RetentionPlan> {
    const facts = this.opts.facts;
    const { stable, previousStable } = await facts.stableVersions(app);
    const protections = protectionsOf({ stable, previousStable, assignedHosts: facts.assignedHosts(app), rollout: facts.activeRollout(app) });
    return planRetention(app, await this.opts.artifacts.list(app), this.opts.keepVersions, protections);
  }

  private async notFound(app: string, version: string): Promise<NotFoundError> {
    const known = (await this.opts.artifacts.list(app)).map((a: ArtifactRecord) => a.version);
    return new NotFoundError(
      known.length === 0 ? `app "${app}" has no artifacts` : `app "${app}" has no artifact for version "${version}" (known versions: ${known.join(', ')})`,
    );
  }

  /** One collection or removal at a time: two would race to delete the same versions. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.running.catch(() => undefined).then(fn);
    this.running = next;
    return next;
  }
}
