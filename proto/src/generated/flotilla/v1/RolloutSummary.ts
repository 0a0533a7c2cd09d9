// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface RolloutSummary {
  'id'?: (string);
  'app'?: (string);
  'version'?: (string);
  'status'?: (string);
  'stable_version'?: (string);
  'selector'?: (string);
  'hosts'?: (number);
  'failed'?: (number);
  'passed'?: (number);
  'steps'?: (number);
  'current_step'?: (number);
  'created_by'?: (string);
  'created_at_ms'?: (number | string | Long);
  'finished_at_ms'?: (number | string | Long);
  'end_reason'?: (string);
  'ended_by'?: (string);
}

export interface RolloutSummary__Output {
  'id': (string);
  'app': (string);
  'version': (string);
  'status': (string);
  'stable_version': (string);
  'selector': (string);
  'hosts': (number);
  'failed': (number);
  'passed': (number);
  'steps': (number);
  'current_step': (number);
  'created_by': (string);
  'created_at_ms': (string);
  'finished_at_ms': (string);
  'end_reason': (string);
  'ended_by': (string);
}
