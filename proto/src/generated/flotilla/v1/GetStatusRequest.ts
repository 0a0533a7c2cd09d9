// Original file: flotilla.proto


export interface GetStatusRequest {
  'app'?: (string);
}

export interface GetStatusRequest__Output {
  'app': (string);
}
