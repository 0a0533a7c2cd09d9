// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface AppStatus {
  'app'?: (string);
  'desired_version'?: (string);
  'active_version'?: (string);
  'process_state'?: (string);
  'pid'?: (number);
  'restarts'?: (number);
  'health'?: (string);
  'health_since_ms'?: (number | string | Long);
  'install_phase'?: (string);
  'install_version'?: (string);
  'error'?: (string);
  'updated_at_ms'?: (number | string | Long);
}

export interface AppStatus__Output {
  'app': (string);
  'desired_version': (string);
  'active_version': (string);
  'process_state': (string);
  'pid': (number);
  'restarts': (number);
  'health': (string);
  'health_since_ms': (string);
  'install_phase': (string);
  'install_version': (string);
  'error': (string);
  'updated_at_ms': (string);
}
