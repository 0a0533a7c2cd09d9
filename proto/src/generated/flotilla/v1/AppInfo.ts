// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface AppInfo {
  'name'?: (string);
  'stable_version'?: (string);
  'stable_since_ms'?: (number | string | Long);
  'versions'?: (string)[];
}

export interface AppInfo__Output {
  'name': (string);
  'stable_version': (string);
  'stable_since_ms': (string);
  'versions': (string)[];
}
