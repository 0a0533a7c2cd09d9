import type { AppAssignment, Manifest } from '@flotilla/shared';
import type { InstallDeps } from './install-context.js';
import type { BesideRunner } from './processes.js';
import { splitWeights, type TrafficShifter } from './traffic/index.js';

/** At full weight with nothing asked otherwise, the release beside has served its purpose. */
export function wantsRetire(want: AppAssignment): boolean {
  return want.traffic === undefined || (want.traffic.weight === 100 && want.traffic.retire === true);
}

/**
 * Moves `weight` percent of the app's traffic to its active slot, from what state.json says was
 * applied, and records the new weight once the balancer took it.
 */
export async function shiftTo(
  deps: Pick<InstallDeps, 'state'>,
  app: string,
  manifest: Manifest,
  shift: TrafficShifter['shift'],
  weight: number,
): Promise<void> {
  const saved = deps.state.current.apps[app]?.traffic;
  if (manifest.traffic === undefined || saved === undefined) return;
  const from = splitWeights(manifest.traffic, saved.activeSlot, saved.weight);
  // With nothing beside, the other slot has no process: it stays down whatever the assignment says.
  const target = saved.beside === null ? 100 : weight;
  await shift(app, from, splitWeights(manifest.traffic, saved.activeSlot, target));
  await deps.state.updateApp(app, (a) => (a.traffic ? { ...a, traffic: { ...a.traffic, weight: target } } : a));
}

/** Stops the release beside the active one once no traffic reaches it and its requests had time to end. */
export async function retireBeside(
  deps: Pick<InstallDeps, 'state' | 'traffic'>,
  app: string,
  runner: BesideRunner,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const saved = deps.state.current.apps[app]?.traffic;
  if (saved === undefined || saved.beside === null || saved.weight !== 100) return;
  if (runner.beside(app) !== undefined) {
    await sleep(deps.traffic?.drainWaitMs ?? 0);
    await runner.stopBeside(app);
  }
  await deps.state.updateApp(app, (a) => (a.traffic ? { ...a, traffic: { ...a.traffic, beside: null } } : a));
}
