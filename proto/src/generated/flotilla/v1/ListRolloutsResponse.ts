// Original file: flotilla.proto

import type { RolloutSummary as _flotilla_v1_RolloutSummary, RolloutSummary__Output as _flotilla_v1_RolloutSummary__Output } from '../../flotilla/v1/RolloutSummary.js';

export interface ListRolloutsResponse {
  'rollouts'?: (_flotilla_v1_RolloutSummary)[];
}

export interface ListRolloutsResponse__Output {
  'rollouts': (_flotilla_v1_RolloutSummary__Output)[];
}
