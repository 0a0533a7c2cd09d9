// Original file: flotilla.proto


export interface RollbackRequest {
  'app'?: (string);
  'to_version'?: (string);
  'actor'?: (string);
  'force'?: (boolean);
}

export interface RollbackRequest__Output {
  'app': (string);
  'to_version': (string);
  'actor': (string);
  'force': (boolean);
}
