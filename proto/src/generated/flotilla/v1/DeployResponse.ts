// Original file: flotilla.proto

import type { HostAssignment as _flotilla_v1_HostAssignment, HostAssignment__Output as _flotilla_v1_HostAssignment__Output } from '../../flotilla/v1/HostAssignment.js';

export interface DeployResponse {
  'assigned'?: (_flotilla_v1_HostAssignment)[];
  'rollout_id'?: (string);
}

export interface DeployResponse__Output {
  'assigned': (_flotilla_v1_HostAssignment__Output)[];
  'rollout_id': (string);
}
