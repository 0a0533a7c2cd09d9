// Original file: flotilla.proto


export interface StartRolloutRequest {
  'app'?: (string);
  'version'?: (string);
  'selector'?: (string);
  'canary'?: (string);
  'batch'?: (string);
  'steps'?: (string);
  'min_healthy_time'?: (string);
  'healthy_deadline'?: (string);
  'bake'?: (string);
  'canary_bake'?: (string);
  'max_failures'?: (string);
  'pause_after_canary'?: (boolean);
  'stable_after'?: (string);
  'no_auto_revert'?: (boolean);
  'max_restarts'?: (string);
  'spread_by'?: (string);
  'dry_run'?: (boolean);
  'actor'?: (string);
  'watch_window'?: (string);
  'force'?: (boolean);
  'traffic'?: (string);
}

export interface StartRolloutRequest__Output {
  'app': (string);
  'version': (string);
  'selector': (string);
  'canary': (string);
  'batch': (string);
  'steps': (string);
  'min_healthy_time': (string);
  'healthy_deadline': (string);
  'bake': (string);
  'canary_bake': (string);
  'max_failures': (string);
  'pause_after_canary': (boolean);
  'stable_after': (string);
  'no_auto_revert': (boolean);
  'max_restarts': (string);
  'spread_by': (string);
  'dry_run': (boolean);
  'actor': (string);
  'watch_window': (string);
  'force': (boolean);
  'traffic': (string);
}
