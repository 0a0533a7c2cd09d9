// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface RolloutStrategy {
  'selector'?: (string);
  'kind'?: (string);
  'canary'?: (string);
  'batch'?: (string);
  'steps'?: (string)[];
  'spread_by'?: (string);
  'min_healthy_time_ms'?: (number | string | Long);
  'healthy_deadline_ms'?: (number | string | Long);
  'bake_ms'?: (number | string | Long);
  'canary_bake_ms'?: (number | string | Long);
  'max_failures'?: (string);
  'pause_after_canary'?: (boolean);
  'stable_after_ms'?: (number | string | Long);
  'auto_revert'?: (boolean);
  'max_restarts'?: (number);
  'watch_window_ms'?: (number | string | Long);
}

export interface RolloutStrategy__Output {
  'selector': (string);
  'kind': (string);
  'canary': (string);
  'batch': (string);
  'steps': (string)[];
  'spread_by': (string);
  'min_healthy_time_ms': (string);
  'healthy_deadline_ms': (string);
  'bake_ms': (string);
  'canary_bake_ms': (string);
  'max_failures': (string);
  'pause_after_canary': (boolean);
  'stable_after_ms': (string);
  'auto_revert': (boolean);
  'max_restarts': (number);
  'watch_window_ms': (string);
}
