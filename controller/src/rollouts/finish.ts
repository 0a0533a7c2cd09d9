import type { RolloutState } from '../engine/index.js';

/** What a rollout's end changes in the app ledger. */
export interface FinishLedger {
  makeStable(app: string, version: string, how: { sinceMs: number; by: string }): Promise<void>;
  recordSummary(state: RolloutState): Promise<void>;
}

/** The one-rollout-per-app claim. */
export interface FinishClaims {
  free(app: string, id: string, nowMs: number): Promise<void>;
}

export interface FinishDeps {
  ledger: FinishLedger;
  claims: FinishClaims;
  now: () => number;
}

/**
 * A `mark-stable` action: the rollout's version becomes the app's stable version (idempotent;
 * the ledger keeps the one rule for the previous stable version).
 */
export function markStable(deps: FinishDeps, state: RolloutState): Promise<void> {
  return deps.ledger.makeStable(state.spec.app, state.spec.version, { sinceMs: state.finishedAtMs ?? deps.now(), by: state.id });
}

/**
 * A finished rollout's bookkeeping, idempotent so that a controller that died half-way finishes
 * it at start: the stable version (on success), the history entry, then the claim.
 */
export async function settleFinished(deps: FinishDeps, state: RolloutState): Promise<void> {
  if (state.status === 'succeeded') await markStable(deps, state);
  await deps.ledger.recordSummary(state);
  await deps.claims.free(state.spec.app, state.id, deps.now());
}
