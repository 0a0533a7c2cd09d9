// The built-in alarms by kind: what the evaluator, the tracker and the driver all name.

/** The built-in alarms, each latched separately per app. */
export type BuiltinAlarmKind =
  /** More than a share of the hosts running the app fail their health check, for a while. */
  | 'health'
  /** A host reports the app crash-looping, or its restarts grow too fast. */
  | 'crash-loop'
  /** A host running the app is over a CPU or memory limit, for a while. */
  | 'resources';

export const BUILTIN_KINDS: readonly BuiltinAlarmKind[] = ['health', 'crash-loop', 'resources'];

/** The alarm `source` of each kind. */
export function builtinSource(kind: BuiltinAlarmKind): string {
  return `builtin:${kind}`;
}


/** For exhaustive switches over the kinds and events here. */
export function assertNever(x: never): never {
  throw new Error(`unexpected built-in alarm value ${JSON.stringify(x)}`);
}
