// Original file: flotilla.proto


export interface WatchRolloutRequest {
  'id'?: (string);
  'app'?: (string);
}

export interface WatchRolloutRequest__Output {
  'id': (string);
  'app': (string);
}
