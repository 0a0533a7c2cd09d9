/**
 * Which of a host's labels the controller believes, for selecting hosts for deployment. A host's
 * word is evidence about that host only: by default its labels are taken as it says (the demo
 * and small fleets), but the operator can pin label keys (`env`, say) so that only the labels
 * the operator gave a host in the controller's config count for them.
 */
export interface LabelPolicy {
  /** False: no label the host claims counts; only the operator's. @default true */
  readonly trustHostLabels: boolean;
  /** Keys only the operator may set; a host claiming one is not believed. @default [] */
  readonly pinnedKeys: readonly string[];
  /** Labels the operator gave each host, by host id; they win over any claim. @default {} */
  readonly operatorLabels: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export const DEFAULT_LABEL_POLICY: LabelPolicy = Object.freeze({
  trustHostLabels: true,
  pinnedKeys: Object.freeze([]) as readonly string[],
  operatorLabels: Object.freeze({}),
});

export interface ResolvedLabels {
  /** The labels selectors see. */
  readonly labels: Readonly<Record<string, string>>;
  /** What the host claimed and was not believed (shown by `flotilla hosts`); empty when none. */
  readonly refused: Readonly<Record<string, string>>;
}

const NONE: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The labels that count for `hostId`, from what it claims and the policy. Pure. In the default
 * policy (trust the host, nothing pinned, no operator labels for it) the claim is returned as it
 * is, without a copy: that is every heartbeat of most fleets.
 */
export function resolveLabels(hostId: string, claimed: Readonly<Record<string, string>>, policy: LabelPolicy): ResolvedLabels {
  const given = Object.hasOwn(policy.operatorLabels, hostId) ? policy.operatorLabels[hostId] : undefined;
  if (policy.trustHostLabels && policy.pinnedKeys.length === 0 && given === undefined) return { labels: claimed, refused: NONE };
  const labels: Record<string, string> = { ...given };
  const refused: Record<string, string> = {};
  for (const [key, value] of Object.entries(claimed)) {
    if (given !== undefined && Object.hasOwn(given, key)) {
      if (given[key] !== value) refused[key] = value;
    } else if (!policy.trustHostLabels || policy.pinnedKeys.includes(key)) {
      refused[key] = value;
    } else {
      labels[key] = value;
    }
  }
  return { labels, refused: Object.keys(refused).length === 0 ? NONE : refused };
}
