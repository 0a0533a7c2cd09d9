// Original file: flotilla.proto

import type { Revert as _flotilla_v1_Revert, Revert__Output as _flotilla_v1_Revert__Output } from '../../flotilla/v1/Revert.js';
import type { HostAssignment as _flotilla_v1_HostAssignment, HostAssignment__Output as _flotilla_v1_HostAssignment__Output } from '../../flotilla/v1/HostAssignment.js';
import type { AppEvent as _flotilla_v1_AppEvent, AppEvent__Output as _flotilla_v1_AppEvent__Output } from '../../flotilla/v1/AppEvent.js';

export interface RollbackResponse {
  'revert'?: (_flotilla_v1_Revert | null);
  'assigned'?: (_flotilla_v1_HostAssignment)[];
  'event'?: (_flotilla_v1_AppEvent | null);
  'aborted_rollout_id'?: (string);
  'message'?: (string);
}

export interface RollbackResponse__Output {
  'revert': (_flotilla_v1_Revert__Output | null);
  'assigned': (_flotilla_v1_HostAssignment__Output)[];
  'event': (_flotilla_v1_AppEvent__Output | null);
  'aborted_rollout_id': (string);
  'message': (string);
}
