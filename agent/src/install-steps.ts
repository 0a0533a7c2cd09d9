import { errorMessage, formatDuration, type Manifest } from '@flotilla/shared';
import { retireBeside, shiftTo, wantsRetire } from './beside.js';
import { abortError, readReleaseManifest, releaseInfo, type BesidePlan, type InstallContext, type InstallDeps, type InstallStep } from './install-context.js';
import { checkStartable } from './process/index.js';
import { protectedVersions } from './plan.js';
import { appEnvironment } from './processes.js';
import { HookFailedError } from './retry.js';
import { runHook } from './release-hooks.js';
import { otherSlot, slotAddress, slotSpec, type HookTarget } from './traffic/index.js';

// The install's vocabulary stays importable from here, where the steps that use it are listed.
export { abortError, InstallContext, readReleaseManifest, releaseInfo, type InstallDeps, type InstallStep, type ReleaseInfo, type ReleaseLayout } from './install-context.js';
export { runHook } from './release-hooks.js';
export { retireBeside, shiftTo, wantsRetire } from './beside.js';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError();
}

/** Starts `version` of the app again (the undo of stopping it) and saves its process identity. */
async function restartVersion(c: InstallContext, version: string): Promise<void> {
  const { processes, releases, state } = c.deps;
  const manifest = await readReleaseManifest(c.deps, c.app, version);
  await processes.launch(releaseInfo(releases, c.app, version, manifest));
  await state.updateApp(c.app, (a) => ({ ...a, process: processes.identity(c.app) }));
  c.log.warn({ previous: version }, 'activation failed after the old process stopped; restarted the old version');
}

/** How long a release may take to turn healthy: its start period and enough probes to pass, twice over. */
function healthyWithinMs(manifest: Manifest): number {
  const h = manifest.health;
  if (h === undefined) return 0;
  return 2 * (h.startPeriod + (h.failureThreshold + h.successThreshold + 1) * (h.interval + h.timeout)) + 10_000;
}

/**
 * Who the drain and undrain hooks are about: an app that declares slots runs, on a host that stops
 * before it starts, in the slot the balancer last pointed at (its first at the start); any other
 * app has no address the agent knows.
 */
function hookTarget(c: InstallContext, manifest: Manifest): HookTarget {
  if (manifest.traffic === undefined) return { slot: '', address: '', weight: 100 };
  const slot = c.deps.state.current.apps[c.app]?.traffic?.activeSlot ?? 'a';
  return { slot, address: slotAddress(slotSpec(manifest.traffic, slot)), weight: 100 };
}

/**
 * The steps of an install, in order. Adding a step is adding an entry here (and a row to the
 * table in docs/agent.md). Through `pre-activate` nothing that runs is touched and a newer
 * assignment may call the install off; from `stop-old` on it runs to its end.
 */
export const INSTALL_STEPS: readonly InstallStep[] = [
  {
    name: 'verify-descriptor',
    phase: 'verifying',
    run: async (c) => {
      c.descriptor();
    },
  },
  {
    name: 'download',
    phase: 'downloading',
    skip: async (c) => {
      const onDisk = await c.onDisk();
      if (onDisk) c.log.info({ sha256: c.descriptor().sha256 }, 'release already on disk; activating it without a download');
      return onDisk;
    },
    run: async (c) => {
      const d = c.descriptor();
      await c.deps.checkRoom?.(d);
      c.log.info({ sha256: d.sha256, size: d.size }, 'downloading release');
      await c.tarball();
      throwIfAborted(c.signal);
    },
  },
  {
    name: 'unpack',
    phase: 'unpacking',
    skip: (c) => c.onDisk(),
    run: async (c) => {
      const tarball = await c.tarball();
      // A directory for this version without a matching marker was not made from these bytes
      // (or not finished); it makes way for the verified release.
      await c.deps.releases.removeRelease(c.app, c.version);
      await c.deps.unpack(tarball, c.descriptor(), c.signal);
    },
  },
  {
    // Before any of the app's code runs (hooks, the app): its user may read its releases only.
    name: 'app-access',
    run: async (c) => {
      await c.deps.releases.grantAppAccess?.(c.app, c.deps.userOf?.(c.app));
    },
  },
  {
    name: 'read-manifest',
    run: async (c) => {
      const release = await c.release();
      throwIfAborted(c.signal);
      await (c.deps.checkStartable ?? checkStartable)({
        ...release,
        env: appEnvironment(release.manifest, c.deps.appOverrides[c.app]?.env),
      });
    },
  },
  {
    name: 'pre-activate',
    phase: 'activating',
    run: async (c) => {
      const release = await c.release();
      await runHook(c.deps, 'preActivate', release.manifest.hooks.preActivate, release, c.signal, c.log);
      throwIfAborted(c.signal);
    },
  },
  {
    name: 'drain-old',
    phase: 'activating',
    runsToEnd: true,
    // Nothing runs to drain: a first install, or an agent that died after the stop.
    skip: async (c) =>
      c.deps.traffic === undefined || c.previous === null || c.deps.processes.get(c.app) === undefined || (await c.beside()) !== null,
    run: async (c) => {
      const traffic = c.deps.traffic as NonNullable<InstallDeps['traffic']>;
      const manifest = await readReleaseManifest(c.deps, c.app, c.previous as string);
      // Requests the balancer sent before the drain still finish on the old process; with no
      // balancer told anything, the app's own stop signal handling is all there is.
      if (await traffic.drain(c.app, hookTarget(c, manifest))) await (c.deps.sleep ?? delay)(traffic.drainWaitMs);
    },
    undo: async (c) => {
      if (c.deps.traffic === undefined || c.previous === null) return;
      await c.deps.traffic.undrain(c.app, hookTarget(c, await readReleaseManifest(c.deps, c.app, c.previous)));
    },
  },
  {
    name: 'stop-old',
    phase: 'activating',
    runsToEnd: true,
    run: async (c) => {
      const beside = await c.beside();
      if (beside !== null) {
        // The old process keeps serving, supervised, until the rollout retires it.
        await beside.runner.keepBeside(c.app);
        const kept = beside.runner.beside(c.app);
        await c.deps.state.updateApp(c.app, (a) => ({
          ...a,
          process: null,
          traffic: {
            activeSlot: a.traffic?.activeSlot ?? otherSlot(beside.slot),
            weight: a.traffic?.weight ?? 100,
            beside: kept ? { version: kept.version, process: beside.runner.besideIdentity(c.app) } : null,
          },
        }));
        return;
      }
      await c.deps.processes.stop(c.app);
      // Nothing is meant to run now: a restarted agent must not start the old version again.
      await c.deps.state.updateApp(c.app, (a) => (a.process === null ? a : { ...a, process: null }));
    },
    undo: async (c) => {
      const beside = await c.beside();
      if (beside !== null) {
        if (c.deps.processes.get(c.app) === undefined) beside.runner.swap(c.app);
        await c.deps.state.updateApp(c.app, (a) => ({ ...a, process: c.deps.processes.identity(c.app), traffic: a.traffic ? { ...a.traffic, beside: null } : undefined }));
        return;
      }
      if (c.previous !== null && c.deps.processes.get(c.app) === undefined) await restartVersion(c, c.previous);
    },
  },
  {
    name: 'switch-current',
    phase: 'activating',
    commits: true,
    run: async (c) => {
      await c.deps.releases.activate(c.app, c.version);
      const beside = await c.beside();
      // The intent before the spawn: this version is meant to run and no process of it is known
      // yet; a restarted agent looks for one by its marker before it starts another. Beside, the
      // new slot has no traffic yet: the weight is the active slot's.
      await c.deps.state.updateApp(c.app, (a) => ({
        ...a,
        activeVersion: c.version,
        previousVersion: c.previous !== null && c.previous !== c.version ? c.previous : a.previousVersion,
        process: null,
        ...(beside !== null && a.traffic?.activeSlot !== beside.slot
          ? { traffic: { activeSlot: beside.slot, weight: a.traffic?.beside ? 100 - a.traffic.weight : 0, beside: a.traffic?.beside ?? null } }
          : {}),
      }));
    },
  },
  {
    name: 'start-new',
    phase: 'activating',
    // Already running this version: the agent died after the spawn and adopted it on its return.
    skip: async (c) => c.deps.processes.get(c.app)?.version === c.version,
    run: async (c) => {
      // Stop-then-start keeps an app with slots in the slot the balancer last pointed at.
      const slot = (await c.beside())?.slot ?? c.deps.state.current.apps[c.app]?.traffic?.activeSlot;
      await c.deps.processes.launch(await c.release(), ...(slot !== undefined ? [slot] : []));
    },
  },
  {
    name: 'persist',
    phase: 'activating',
    run: async (c) => {
      await c.deps.state.updateApp(c.app, (a) => ({ ...a, process: c.deps.processes.identity(c.app) }));
      c.log.info({ previous: c.previous }, 'release activated');
    },
  },
  {
    name: 'await-healthy',
    phase: 'activating',
    // Traffic moves to a release only once its health check passes in its slot.
    skip: async (c) => (await c.beside()) === null || (await c.manifest()).health === undefined,
    run: async (c) => {
      const manifest = await c.manifest();
      const limitMs = (c.deps.healthyWithinMs ?? healthyWithinMs)(manifest);
      const sleep = c.deps.sleep ?? delay;
      const started = Date.now();
      // Bounded by time: the health check's own schedule decides how long is fair.
      for (;;) {
        const health = (await c.beside())?.runner.health(c.app);
        if (health === 'healthy') return;
        if (Date.now() - started > limitMs) {
          throw new HookFailedError(`${c.app}@${c.version} did not turn healthy in its slot within ${formatDuration(limitMs)}; traffic stays where it was`);
        }
        await sleep(100);
      }
    },
  },
  {
    name: 'shift-traffic',
    phase: 'activating',
    skip: async (c) => (await c.beside()) === null,
    run: async (c) => {
      const beside = (await c.beside()) as BesidePlan;
      await shiftTo(c.deps, c.app, await c.manifest(), beside.shift, c.want.traffic?.weight ?? 100);
    },
  },
  {
    name: 'retire-old',
    phase: 'activating',
    skip: async (c) => (await c.beside()) === null || !wantsRetire(c.want),
    run: async (c) => {
      await retireBeside(c.deps, c.app, ((await c.beside()) as BesidePlan).runner, c.deps.sleep ?? delay);
    },
  },
  {
    name: 'undrain-new',
    phase: 'activating',
    skip: async (c) => c.deps.traffic === undefined || (await c.beside()) !== null,
    run: async (c) => {
      await (c.deps.traffic as NonNullable<InstallDeps['traffic']>).undrain(c.app, hookTarget(c, await c.manifest()));
    },
  },
  {
    name: 'post-start',
    phase: 'activating',
    run: async (c) => {
      const release = await c.release();
      try {
        await runHook(c.deps, 'postStart', release.manifest.hooks.postStart, release, undefined, c.log);
      } catch (err) {
        c.postStartError = errorMessage(err);
        c.log.warn({ err }, 'postStart hook failed; the app keeps running');
      }
    },
  },
  {
    name: 'prune',
    run: async (c) => {
      const protect = protectedVersions(c.version, c.deps.state.current.apps[c.app]?.previousVersion, c.want.stableVersion);
      try {
        await c.deps.releases.prune(c.app, { keep: c.deps.keepReleases, protect });
      } catch (err) {
        c.log.warn({ err }, 'pruning old releases failed');
      }
    },
  },
];
