// Original file: flotilla.proto


export interface ListHostsRequest {
  'selector'?: (string);
}

export interface ListHostsRequest__Output {
  'selector': (string);
}
