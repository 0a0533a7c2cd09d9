// Original file: flotilla.proto

import type { VersionHistory as _flotilla_v1_VersionHistory, VersionHistory__Output as _flotilla_v1_VersionHistory__Output } from '../../flotilla/v1/VersionHistory.js';
import type { RolloutSummary as _flotilla_v1_RolloutSummary, RolloutSummary__Output as _flotilla_v1_RolloutSummary__Output } from '../../flotilla/v1/RolloutSummary.js';
import type { AppEvent as _flotilla_v1_AppEvent, AppEvent__Output as _flotilla_v1_AppEvent__Output } from '../../flotilla/v1/AppEvent.js';
import type { Long } from '@grpc/proto-loader';

export interface GetHistoryResponse {
  'app'?: (string);
  'stable_version'?: (string);
  'stable_since_ms'?: (number | string | Long);
  'versions'?: (_flotilla_v1_VersionHistory)[];
  'rollouts'?: (_flotilla_v1_RolloutSummary)[];
  'previous_stable_version'?: (string);
  'events'?: (_flotilla_v1_AppEvent)[];
}

export interface GetHistoryResponse__Output {
  'app': (string);
  'stable_version': (string);
  'stable_since_ms': (string);
  'versions': (_flotilla_v1_VersionHistory__Output)[];
  'rollouts': (_flotilla_v1_RolloutSummary__Output)[];
  'previous_stable_version': (string);
  'events': (_flotilla_v1_AppEvent__Output)[];
}
