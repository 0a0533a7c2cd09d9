// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface AppEvent {
  'id'?: (string);
  'app'?: (string);
  'kind'?: (string);
  'at_ms'?: (number | string | Long);
  'source'?: (string);
  'reason'?: (string);
  'severity'?: (string);
  'summary_json'?: (string);
  'action'?: (string);
  'rollout_id'?: (string);
  'revert_id'?: (string);
  'from_version'?: (string);
  'to_version'?: (string);
  'hosts'?: (number);
  'message'?: (string);
  'actor'?: (string);
}

export interface AppEvent__Output {
  'id': (string);
  'app': (string);
  'kind': (string);
  'at_ms': (string);
  'source': (string);
  'reason': (string);
  'severity': (string);
  'summary_json': (string);
  'action': (string);
  'rollout_id': (string);
  'revert_id': (string);
  'from_version': (string);
  'to_version': (string);
  'hosts': (number);
  'message': (string);
  'actor': (string);
}
