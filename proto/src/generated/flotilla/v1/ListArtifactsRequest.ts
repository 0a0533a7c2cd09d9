// Original file: flotilla.proto


export interface ListArtifactsRequest {
  'app'?: (string);
}

export interface ListArtifactsRequest__Output {
  'app': (string);
}
