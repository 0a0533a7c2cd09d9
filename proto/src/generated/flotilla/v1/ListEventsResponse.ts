// Original file: flotilla.proto

import type { AppEvent as _flotilla_v1_AppEvent, AppEvent__Output as _flotilla_v1_AppEvent__Output } from '../../flotilla/v1/AppEvent.js';

export interface ListEventsResponse {
  'events'?: (_flotilla_v1_AppEvent)[];
}

export interface ListEventsResponse__Output {
  'events': (_flotilla_v1_AppEvent__Output)[];
}
