// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface ControllerInfo {
  'id'?: (string);
  'grpc'?: (string);
  'http'?: (string);
  'state'?: (string);
  'started_at_ms'?: (number | string | Long);
  'seen_at_ms'?: (number | string | Long);
}

export interface ControllerInfo__Output {
  'id': (string);
  'grpc': (string);
  'http': (string);
  'state': (string);
  'started_at_ms': (string);
  'seen_at_ms': (string);
}
