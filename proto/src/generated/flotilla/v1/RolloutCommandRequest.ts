// Original file: flotilla.proto


export interface RolloutCommandRequest {
  'id'?: (string);
  'command'?: (string);
  'no_revert'?: (boolean);
  'actor'?: (string);
}

export interface RolloutCommandRequest__Output {
  'id': (string);
  'command': (string);
  'no_revert': (boolean);
  'actor': (string);
}
