// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface RolloutLogEntry {
  'at_ms'?: (number | string | Long);
  'kind'?: (string);
  'actor'?: (string);
  'message'?: (string);
  'details_json'?: (string);
}

export interface RolloutLogEntry__Output {
  'at_ms': (string);
  'kind': (string);
  'actor': (string);
  'message': (string);
  'details_json': (string);
}
