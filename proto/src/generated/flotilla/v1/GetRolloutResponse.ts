// Original file: flotilla.proto

import type { Rollout as _flotilla_v1_Rollout, Rollout__Output as _flotilla_v1_Rollout__Output } from '../../flotilla/v1/Rollout.js';

export interface GetRolloutResponse {
  'rollout'?: (_flotilla_v1_Rollout | null);
}

export interface GetRolloutResponse__Output {
  'rollout': (_flotilla_v1_Rollout__Output | null);
}
