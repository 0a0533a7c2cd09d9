// Original file: flotilla.proto

import type { ArtifactInfo as _flotilla_v1_ArtifactInfo, ArtifactInfo__Output as _flotilla_v1_ArtifactInfo__Output } from '../../flotilla/v1/ArtifactInfo.js';

export interface KeptArtifact {
  'artifact'?: (_flotilla_v1_ArtifactInfo | null);
  'protected_by'?: (string)[];
}

export interface KeptArtifact__Output {
  'artifact': (_flotilla_v1_ArtifactInfo__Output | null);
  'protected_by': (string)[];
}
