// Original file: flotilla.proto

import type { ControllerInfo as _flotilla_v1_ControllerInfo, ControllerInfo__Output as _flotilla_v1_ControllerInfo__Output } from '../../flotilla/v1/ControllerInfo.js';
import type { Long } from '@grpc/proto-loader';

export interface ClusterInfo {
  'self'?: (string);
  'role'?: (string);
  'leader_id'?: (string);
  'leader_since_ms'?: (number | string | Long);
  'leader_fence'?: (number | string | Long);
  'controllers'?: (_flotilla_v1_ControllerInfo)[];
}

export interface ClusterInfo__Output {
  'self': (string);
  'role': (string);
  'leader_id': (string);
  'leader_since_ms': (string);
  'leader_fence': (string);
  'controllers': (_flotilla_v1_ControllerInfo__Output)[];
}
