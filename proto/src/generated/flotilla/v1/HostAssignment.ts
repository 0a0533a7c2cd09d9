// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface HostAssignment {
  'host_id'?: (string);
  'seq'?: (number | string | Long);
}

export interface HostAssignment__Output {
  'host_id': (string);
  'seq': (string);
}
