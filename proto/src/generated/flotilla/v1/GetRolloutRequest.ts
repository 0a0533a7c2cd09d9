// Original file: flotilla.proto


export interface GetRolloutRequest {
  'id'?: (string);
  'app'?: (string);
}

export interface GetRolloutRequest__Output {
  'id': (string);
  'app': (string);
}
