// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface RolloutStep {
  'index'?: (number);
  'host_ids'?: (string)[];
  'target_count'?: (number);
  'started_at_ms'?: (number | string | Long);
  'passed_at_ms'?: (number | string | Long);
  'bake_until_ms'?: (number | string | Long);
}

export interface RolloutStep__Output {
  'index': (number);
  'host_ids': (string)[];
  'target_count': (number);
  'started_at_ms': (string);
  'passed_at_ms': (string);
  'bake_until_ms': (string);
}
