import { parseSelector, type SelectorTerm } from '@flotilla/shared';

/**
 * Which hosts a grant reaches: those a label selector picks. `text` is the selector as configured,
 * kept to name the scope in refusals and in whoami.
 */
export interface HostScope {
  readonly text: string;
  readonly terms: readonly SelectorTerm[];
}

/**
 * Which hosts one call changes. `selector`: the hosts its request's selector picks (Deploy,
 * StartRollout). `fleet`: hosts it cannot name up front, or all of an app's hosts (a rollback, a
 * command to a running rollout, deleting versions, revoking a host), and a request selector that
 * does not parse (so an unreadable selector is never taken as narrow).
 */
export type Targets = { readonly kind: 'selector'; readonly terms: readonly SelectorTerm[] } | { readonly kind: 'fleet' };

/** The targets of a request that selects its hosts by `selector` (empty: every host). */
export function targetsOfSelector(selector: string): Targets {
  try {
    return { kind: 'selector', terms: parseSelector(selector) };
  } catch {
    return { kind: 'fleet' };
  }
}

const sameTerm = (a: SelectorTerm, b: SelectorTerm): boolean =>
  a.op === b.op && a.key === b.key && ('value' in a ? 'value' in b && a.value === b.value : true);

/**
 * Whether a call's targets lie inside `scope`. Sound without knowing the fleet: a selector's terms
 * all must hold, so a request holding every term of the scope's selector (and maybe more) picks a
 * subset of the hosts the scope picks. It is not complete (`env=staging` is not taken as within
 * `env!=prod`); a grant is written with the terms its holder will use. Targets of `fleet` are
 * never inside a scope.
 */
export function withinScope(targets: Targets, scope: HostScope): boolean {
  if (targets.kind === 'fleet') return false;
  return scope.terms.every((want) => targets.terms.some((t) => sameTerm(t, want)));
}
