// Original file: flotilla.proto

import type { ArtifactInfo as _flotilla_v1_ArtifactInfo, ArtifactInfo__Output as _flotilla_v1_ArtifactInfo__Output } from '../../flotilla/v1/ArtifactInfo.js';

export interface UploadResponse {
  'artifact'?: (_flotilla_v1_ArtifactInfo | null);
  'already_present'?: (boolean);
}

export interface UploadResponse__Output {
  'artifact': (_flotilla_v1_ArtifactInfo__Output | null);
  'already_present': (boolean);
}
