// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface StablePeriod {
  'since_ms'?: (number | string | Long);
  'until_ms'?: (number | string | Long);
  'rollout_id'?: (string);
}

export interface StablePeriod__Output {
  'since_ms': (string);
  'until_ms': (string);
  'rollout_id': (string);
}
