// Original file: flotilla.proto


export interface RemoveArtifactRequest {
  'app'?: (string);
  'version'?: (string);
  'force'?: (boolean);
  'actor'?: (string);
}

export interface RemoveArtifactRequest__Output {
  'app': (string);
  'version': (string);
  'force': (boolean);
  'actor': (string);
}
