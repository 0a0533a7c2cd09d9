// Original file: flotilla.proto

import type { RolloutHostReport as _flotilla_v1_RolloutHostReport, RolloutHostReport__Output as _flotilla_v1_RolloutHostReport__Output } from '../../flotilla/v1/RolloutHostReport.js';
import type { Long } from '@grpc/proto-loader';

export interface RolloutHost {
  'host_id'?: (string);
  'step'?: (number);
  'state'?: (string);
  'assigned_at_ms'?: (number | string | Long);
  'healthy_since_ms'?: (number | string | Long);
  'passed_at_ms'?: (number | string | Long);
  'failed_at_ms'?: (number | string | Long);
  'failure_reason'?: (string);
  'reverted_at_ms'?: (number | string | Long);
  'down'?: (boolean);
  'removed'?: (boolean);
  'last_report'?: (_flotilla_v1_RolloutHostReport | null);
}

export interface RolloutHost__Output {
  'host_id': (string);
  'step': (number);
  'state': (string);
  'assigned_at_ms': (string);
  'healthy_since_ms': (string);
  'passed_at_ms': (string);
  'failed_at_ms': (string);
  'failure_reason': (string);
  'reverted_at_ms': (string);
  'down': (boolean);
  'removed': (boolean);
  'last_report': (_flotilla_v1_RolloutHostReport__Output | null);
}
