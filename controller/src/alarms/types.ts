/**
 * One alarm for one app, from whatever source: an alert webhook or a built-in alarm. The alarm
 * sources build these; the sink (the rollout manager) decides what an alarm does to the fleet.
 */
export interface Alarm {
  readonly app: string;
  /**
   * Who raised it: `alertmanager`, `webhook` (or `webhook:<source the caller named>`), or
   * `builtin:health`, `builtin:crash-loop`, `builtin:resources`. Callers of the generic webhook
   * cannot pose as Alertmanager or a built-in alarm: their source always starts with `webhook`.
   */
  readonly source: string;
  /** One line for operators: what fired, in the monitor's own words (at most 512 characters). */
  readonly reason: string;
  /** As the monitor put it (`critical`, `page`...), when it said. */
  readonly severity?: string;
  /** The controller's clock when the alarm arrived (or was computed). */
  readonly receivedAtMs: number;
  /**
   * A small summary of what the monitor sent, for the event log and `flotilla events`: counts,
   * alert names, fingerprints, URLs without credentials. Never the whole payload, never a secret.
   */
  readonly summary: Readonly<Record<string, unknown>>;
}

/** What the sink did with an alarm. */
export type AlarmAction =
  /** A revert of the app to its last stable version was started by this alarm. */
  | 'reverted'
  /** A revert of the app is already under way (an earlier alarm, a failure, an abort): nothing more done. */
  | 'already-reverting'
  /** The rollout was stopped but nothing was reverted (no stable version yet, or auto-revert off). */
  | 'stopped'
  /** Stored only: no rollout running, outside the watch window, and the app's policy says record. */
  | 'recorded';

export interface AlarmOutcome {
  /**
   * What the sink did; `queued` when a controller that is not the leader took the alarm and
   * queued it durably for the leader, which had not acted on it within the wait: it will (the
   * next leader will, if this one dies).
   */
  readonly action: AlarmAction | 'queued';
  /** The rollout the alarm acted on, when there was one. */
  readonly rolloutId?: string;
  /** The version the app goes back to, for `reverted` and `already-reverting`. */
  readonly toVersion?: string;
  /** A line for the caller, e.g. why it was only recorded. */
  readonly message?: string;
}

/**
 * Where alarms go; implemented by the rollout manager. Both calls may throw (the KV store is
 * unreachable, say): a webhook then answers 503 so that Alertmanager retries, which is safe
 * because `raise` is idempotent.
 */
export interface AlarmSink {
  /** Whether the controller knows the app (it has had an artifact uploaded or a rollout). */
  knowsApp(app: string): Promise<boolean>;
  /**
   * Acts on an alarm and stores it with its source and summary. Idempotent and storm-proof:
   * repeated or concurrent alarms for the same app cause at most one revert; an alarm that
   * arrives during a revert changes nothing more (it is still stored). Alarm sources call it
   * once per app per request or episode and add no duplication of their own.
   */
  raise(alarm: Alarm): Promise<AlarmOutcome>;
}
