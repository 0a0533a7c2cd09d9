// Original file: flotilla.proto


export interface CollectArtifactsRequest {
  'app'?: (string);
  'dry_run'?: (boolean);
}

export interface CollectArtifactsRequest__Output {
  'app': (string);
  'dry_run': (boolean);
}
