// Original file: flotilla.proto

import type { ArtifactInfo as _flotilla_v1_ArtifactInfo, ArtifactInfo__Output as _flotilla_v1_ArtifactInfo__Output } from '../../flotilla/v1/ArtifactInfo.js';

export interface ListArtifactsResponse {
  'artifacts'?: (_flotilla_v1_ArtifactInfo)[];
}

export interface ListArtifactsResponse__Output {
  'artifacts': (_flotilla_v1_ArtifactInfo__Output)[];
}
