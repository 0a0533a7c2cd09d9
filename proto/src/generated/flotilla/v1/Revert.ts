// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface Revert {
  'id'?: (string);
  'app'?: (string);
  'cause'?: (string);
  'from_version'?: (string);
  'to_version'?: (string);
  'rollout_id'?: (string);
  'host_ids'?: (string)[];
  'started_at_ms'?: (number | string | Long);
  'finished_at_ms'?: (number | string | Long);
  'status'?: (string);
  'actor'?: (string);
  'reason'?: (string);
  'bad_version'?: (string);
}

export interface Revert__Output {
  'id': (string);
  'app': (string);
  'cause': (string);
  'from_version': (string);
  'to_version': (string);
  'rollout_id': (string);
  'host_ids': (string)[];
  'started_at_ms': (string);
  'finished_at_ms': (string);
  'status': (string);
  'actor': (string);
  'reason': (string);
  'bad_version': (string);
}
