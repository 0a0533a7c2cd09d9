// Original file: flotilla.proto


export interface GetHistoryRequest {
  'app'?: (string);
}

export interface GetHistoryRequest__Output {
  'app': (string);
}
