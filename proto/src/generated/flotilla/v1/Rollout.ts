// Original file: flotilla.proto

import type { RolloutStrategy as _flotilla_v1_RolloutStrategy, RolloutStrategy__Output as _flotilla_v1_RolloutStrategy__Output } from '../../flotilla/v1/RolloutStrategy.js';
import type { RolloutStep as _flotilla_v1_RolloutStep, RolloutStep__Output as _flotilla_v1_RolloutStep__Output } from '../../flotilla/v1/RolloutStep.js';
import type { RolloutHost as _flotilla_v1_RolloutHost, RolloutHost__Output as _flotilla_v1_RolloutHost__Output } from '../../flotilla/v1/RolloutHost.js';
import type { RolloutCounters as _flotilla_v1_RolloutCounters, RolloutCounters__Output as _flotilla_v1_RolloutCounters__Output } from '../../flotilla/v1/RolloutCounters.js';
import type { RolloutLogEntry as _flotilla_v1_RolloutLogEntry, RolloutLogEntry__Output as _flotilla_v1_RolloutLogEntry__Output } from '../../flotilla/v1/RolloutLogEntry.js';
import type { AppEvent as _flotilla_v1_AppEvent, AppEvent__Output as _flotilla_v1_AppEvent__Output } from '../../flotilla/v1/AppEvent.js';
import type { Long } from '@grpc/proto-loader';

export interface Rollout {
  'id'?: (string);
  'app'?: (string);
  'version'?: (string);
  'status'?: (string);
  'stable_version'?: (string);
  'strategy'?: (_flotilla_v1_RolloutStrategy | null);
  'steps'?: (_flotilla_v1_RolloutStep)[];
  'current_step'?: (number);
  'hosts'?: (_flotilla_v1_RolloutHost)[];
  'counters'?: (_flotilla_v1_RolloutCounters | null);
  'failure_limit'?: (number);
  'pause_reason'?: (string);
  'paused_at_ms'?: (number | string | Long);
  'paused_by'?: (string);
  'promoted_at_ms'?: (number | string | Long);
  'stabilise_until_ms'?: (number | string | Long);
  'created_at_ms'?: (number | string | Long);
  'updated_at_ms'?: (number | string | Long);
  'finished_at_ms'?: (number | string | Long);
  'end_reason'?: (string);
  'ended_by'?: (string);
  'created_by'?: (string);
  'log'?: (_flotilla_v1_RolloutLogEntry)[];
  'now_ms'?: (number | string | Long);
  'events'?: (_flotilla_v1_AppEvent)[];
}

export interface Rollout__Output {
  'id': (string);
  'app': (string);
  'version': (string);
  'status': (string);
  'stable_version': (string);
  'strategy': (_flotilla_v1_RolloutStrategy__Output | null);
  'steps': (_flotilla_v1_RolloutStep__Output)[];
  'current_step': (number);
  'hosts': (_flotilla_v1_RolloutHost__Output)[];
  'counters': (_flotilla_v1_RolloutCounters__Output | null);
  'failure_limit': (number);
  'pause_reason': (string);
  'paused_at_ms': (string);
  'paused_by': (string);
  'promoted_at_ms': (string);
  'stabilise_until_ms': (string);
  'created_at_ms': (string);
  'updated_at_ms': (string);
  'finished_at_ms': (string);
  'end_reason': (string);
  'ended_by': (string);
  'created_by': (string);
  'log': (_flotilla_v1_RolloutLogEntry__Output)[];
  'now_ms': (string);
  'events': (_flotilla_v1_AppEvent__Output)[];
}
