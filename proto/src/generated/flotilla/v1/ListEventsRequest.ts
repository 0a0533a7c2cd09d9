// Original file: flotilla.proto


export interface ListEventsRequest {
  'app'?: (string);
  'limit'?: (number);
}

export interface ListEventsRequest__Output {
  'app': (string);
  'limit': (number);
}
