// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface AppInfo {
  'name'?: (string);
  'stable_version'?: (string);
  'stable_since_ms'?: (number | string | Long);
  'versions'?: (string)[];
  'previous_stable_version'?: (string);
  'bad_versions'?: (string)[];
}

export interface AppInfo__Output {
  'name': (string);
  'stable_version': (string);
  'stable_since_ms': (string);
  'versions': (string)[];
  'previous_stable_version': (string);
  'bad_versions': (string)[];
}
