// Original file: flotilla.proto

import type { ArtifactInfo as _flotilla_v1_ArtifactInfo, ArtifactInfo__Output as _flotilla_v1_ArtifactInfo__Output } from '../../flotilla/v1/ArtifactInfo.js';

export interface RemoveArtifactResponse {
  'artifact'?: (_flotilla_v1_ArtifactInfo | null);
  'bytes_removed'?: (boolean);
}

export interface RemoveArtifactResponse__Output {
  'artifact': (_flotilla_v1_ArtifactInfo__Output | null);
  'bytes_removed': (boolean);
}
