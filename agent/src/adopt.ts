import type { Logger } from '@flotilla/shared';
import { readReleaseManifest, type InstallDeps } from './install-context.js';
import type { ReleaseStore } from './install/releases.js';
import { signalGroup, type MarkedProcess, type ProcessIdentity } from './process/index.js';
import type { AppProcesses } from './processes.js';
import { sameProcess, type AppLocalState, type LocalState, type StateKeeper } from './state.js';

/** What taking over a previous agent's apps touches: the releases on disk, the processes, the state. */
export interface AdoptDeps {
  readonly releases: Pick<ReleaseStore, 'releaseDir' | 'logDir'>;
  /** The host's per-app settings: its traffic slots replace a release's own. */
  readonly appOverrides: InstallDeps['appOverrides'];
  readonly processes: AppProcesses;
  readonly keeper: StateKeeper;
  readonly log: Logger;
}

/**
 * The `current` links are the truth about what is active: a crash between the link switch and
 * the state write leaves state.json one step behind, and this catches it up.
 */
export async function followCurrentLinks(
  releases: Pick<ReleaseStore, 'currentVersion'>,
  saved: LocalState,
  appsOnDisk: readonly string[],
  log: Logger,
): Promise<LocalState> {
  const apps = { ...saved.apps };
  for (const app of new Set([...Object.keys(apps), ...appsOnDisk])) {
    const linked = await releases.currentVersion(app);
    const entry = apps[app] ?? { activeVersion: null, previousVersion: null, process: null };
    if (linked !== null && linked !== entry.activeVersion) {
      log.warn({ app, saved: entry.activeVersion, linked }, 'state.json was behind the current link; following the link');
      // The install record stays: the install resumes after the switch instead of starting over.
      apps[app] = { ...entry, activeVersion: linked, previousVersion: entry.activeVersion ?? entry.previousVersion, process: null };
    }
  }
  return { ...saved, apps };
}

/**
 * Takes over the apps the previous agent process left running: by the saved identity, or else
 * by the mark in the process's environment (it died between the spawn and saving the pid).
 * Any other marked process of an app is an orphan nobody tracks and is killed, so it cannot
 * hold the app's port against the process the agent supervises. Apps whose saved process died
 * are started again.
 */
export async function adoptApps(deps: AdoptDeps): Promise<void> {
  const local = deps.keeper.current;
  const found = deps.processes.findStarted(Object.keys(local.apps));
  for (const [app, entry] of Object.entries(local.apps)) {
    const marked = found.get(app) ?? [];
    const adopted = await adoptApp(deps, app, entry, marked);
    // Undecided (the release cannot be read): kill nothing that might be the app itself.
    if (adopted === undefined) continue;
    const beside = await adoptBeside(deps, app, entry, marked);
    if (beside === undefined) continue;
    for (const orphan of marked) {
      if (orphan.identity.pid === adopted?.pid || orphan.identity.pid === beside?.pid) continue;
      deps.log.warn({ app, pid: orphan.identity.pid, version: orphan.version }, 'killing an app process no agent tracks');
      signalGroup(orphan.identity.pid, 'SIGKILL');
    }
  }
}

/**
 * The older release an earlier agent left serving beside the active one in the other slot (a
 * traffic shift under way), by its saved identity or its mark. Null when there is none (any
 * more: state.json then says so), undefined when that could not be decided.
 */
async function adoptBeside(
  deps: AdoptDeps,
  app: string,
  entry: AppLocalState,
  marked: readonly MarkedProcess[],
): Promise<ProcessIdentity | null | undefined> {
  const { releases, processes, keeper, log } = deps;
  const beside = entry.traffic?.beside;
  if (!beside || entry.traffic === undefined) return null;
  const slot = entry.traffic.activeSlot === 'a' ? 'b' : 'a';
  const releaseDir = releases.releaseDir(app, beside.version);
  let manifest;
  try {
    manifest = await readReleaseManifest(deps, app, beside.version);
  } catch (err) {
    log.error({ app, version: beside.version, err }, 'cannot read the manifest of the release beside; not re-adopted');
    return undefined;
  }
  const release = { app, version: beside.version, releaseDir, manifest, logDir: releases.logDir(app) };
  for (const identity of [beside.process, marked.find((p) => p.version === beside.version)?.identity]) {
    if (identity && processes.adoptBeside(release, identity, slot)) {
      log.info({ app, version: beside.version, pid: identity.pid, slot }, 'release beside re-adopted');
      if (!sameProcess(identity, beside.process)) {
        await keeper.updateApp(app, (a) => (a.traffic?.beside ? { ...a, traffic: { ...a.traffic, beside: { ...a.traffic.beside, process: identity } } } : a));
      }
      return identity;
    }
  }
  // Gone: the slot has no process, so the balancer must send it nothing; convergence re-applies.
  log.warn({ app, version: beside.version }, 'the release beside is gone');
  await keeper.updateApp(app, (a) => (a.traffic ? { ...a, traffic: { ...a.traffic, beside: null } } : a));
  return null;
}

/** The process now supervised for `app`, null for none, undefined when that could not be decided. */
async function adoptApp(
  deps: AdoptDeps,
  app: string,
  entry: AppLocalState,
  marked: readonly MarkedProcess[],
): Promise<ProcessIdentity | null | undefined> {
  const { releases, processes, log } = deps;
  const version = entry.activeVersion;
  if (version === null || (entry.process === null && marked.length === 0)) return null;
  const releaseDir = releases.releaseDir(app, version);
  let manifest;
  try {
    manifest = await readReleaseManifest(deps, app, version);
  } catch (err) {
    log.error({ app, version, err }, 'cannot read the active release manifest; app not re-adopted');
    return undefined;
  }
  const release = { app, version, releaseDir, manifest, logDir: releases.logDir(app) };
  const slot = entry.traffic?.activeSlot;
  if (entry.process !== null && processes.adopt(release, entry.process, slot)) {
    log.info({ app, version, pid: entry.process.pid }, 'app re-adopted');
    return entry.process;
  }
  const candidate = marked.find((p) => p.version === version);
  if (candidate !== undefined && processes.adopt(release, candidate.identity, slot)) {
    log.info({ app, version, pid: candidate.identity.pid }, 'app re-adopted by its mark (its pid was never saved)');
    await saveIdentity(deps, app);
    return candidate.identity;
  }
  if (entry.process === null) return null; // not known to run: convergence decides
  log.info({ app, version, pid: entry.process.pid }, 'app process is gone; starting it again');
  await processes.launch(release, slot);
  await saveIdentity(deps, app);
  return processes.identity(app);
}

async function saveIdentity(deps: AdoptDeps, app: string): Promise<void> {
  try {
    await deps.keeper.updateApp(app, (a) => ({ ...a, process: deps.processes.identity(app) }));
  } catch (err) {
    // The process carries its mark: the next agent process finds it without the saved pid.
    deps.log.error({ app, err }, 'cannot save the app process identity');
  }
}
