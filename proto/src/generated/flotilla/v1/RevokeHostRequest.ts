// Original file: flotilla.proto


export interface RevokeHostRequest {
  'host_id'?: (string);
}

export interface RevokeHostRequest__Output {
  'host_id': (string);
}
