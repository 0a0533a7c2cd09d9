// Original file: flotilla.proto


export interface ListRolloutsRequest {
  'app'?: (string);
}

export interface ListRolloutsRequest__Output {
  'app': (string);
}
