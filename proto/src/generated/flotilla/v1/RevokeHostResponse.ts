// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface RevokeHostResponse {
  'host_id'?: (string);
  'revoked_at_ms'?: (number | string | Long);
  'by'?: (string);
}

export interface RevokeHostResponse__Output {
  'host_id': (string);
  'revoked_at_ms': (string);
  'by': (string);
}
