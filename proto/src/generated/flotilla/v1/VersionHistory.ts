// Original file: flotilla.proto

import type { StablePeriod as _flotilla_v1_StablePeriod, StablePeriod__Output as _flotilla_v1_StablePeriod__Output } from '../../flotilla/v1/StablePeriod.js';
import type { Long } from '@grpc/proto-loader';

export interface VersionHistory {
  'version'?: (string);
  'uploaded_at_ms'?: (number | string | Long);
  'stable'?: (boolean);
  'stable_periods'?: (_flotilla_v1_StablePeriod)[];
  'bad'?: (boolean);
  'bad_since_ms'?: (number | string | Long);
  'bad_reason'?: (string);
  'bad_by'?: (string);
}

export interface VersionHistory__Output {
  'version': (string);
  'uploaded_at_ms': (string);
  'stable': (boolean);
  'stable_periods': (_flotilla_v1_StablePeriod__Output)[];
  'bad': (boolean);
  'bad_since_ms': (string);
  'bad_reason': (string);
  'bad_by': (string);
}
